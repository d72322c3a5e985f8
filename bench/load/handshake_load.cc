// gev-handshake-load: TLS handshakes per second against any TLS server, and the server's
// CPU per handshake. K connections at a time from one epoll loop: connect, handshake,
// close_notify, close, again. With --resume every slot first gets a session (for TLS 1.3
// it reads the ticket the server sends after the handshake), then offers it on each new
// connection; a handshake that does not resume counts as an error. Nothing is sent but
// the handshake, so the server's protocol does not matter (an echo, nginx's return 200).
//
//   gev-handshake-load --port P [--conns K] [--duration SEC] [--warmup SEC] [--resume]
//                      [--tls-version 1.2|1.3] [--server-pid PID] [--json]
//
// JSON keys match gev-load's ("msgs/s" is handshakes/s, p99_us the handshake's latency
// from connect), so bench/compare_lib.sh tabulates it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "histogram.h"

namespace {

int64_t NowNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  int conns = 16;
  double duration = 5;
  double warmup = 0;
  bool resume = false;
  std::string version;  // "", "1.2", "1.3"
  int server_pid = 0;
  bool json = false;
};

[[noreturn]] void Usage(const char* err) {
  std::fprintf(err ? stderr : stdout,
               "%s%susage: gev-handshake-load --port P [--host H] [--conns K] [--duration SEC]\n"
               "       [--warmup SEC] [--resume] [--tls-version 1.2|1.3] [--server-pid PID] "
               "[--json]\n",
               err ? "gev-handshake-load: " : "", err ? err : "");
  if (err) std::fputc('\n', stderr);
  std::exit(err ? 2 : 0);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--help" || a == "-h") Usage(nullptr);
    else if (a == "--host") o.host = value();
    else if (a == "--port") o.port = std::atoi(value().c_str());
    else if (a == "--conns") o.conns = std::atoi(value().c_str());
    else if (a == "--duration") o.duration = std::atof(value().c_str());
    else if (a == "--warmup") o.warmup = std::atof(value().c_str());
    else if (a == "--resume") o.resume = true;
    else if (a == "--tls-version") o.version = value();
    else if (a == "--server-pid") o.server_pid = std::atoi(value().c_str());
    else if (a == "--json") o.json = true;
    else Usage(("unknown flag " + a).c_str());
  }
  if (o.port <= 0 || o.port > 65535) Usage("--port is required");
  if (o.conns < 1 || o.conns > 10000) Usage("--conns must be 1..10000");
  if (o.duration <= 0 || o.duration > 600 || o.warmup < 0 || o.warmup > 60)
    Usage("--duration must be in (0, 600], --warmup in [0, 60]");
  if (!o.version.empty() && o.version != "1.2" && o.version != "1.3")
    Usage("--tls-version must be 1.2 or 1.3");
  return o;
}

double ServerCpuSeconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return -1;
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int n = 3; n <= 15 && rest >> field; ++n) {
    if (n == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (n == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

enum class Phase { kConnecting, kHandshake, kTicket };

struct Slot {
  int fd = -1;
  SSL* ssl = nullptr;
  Phase phase = Phase::kConnecting;
  int64_t started_ns = 0;
  SSL_SESSION* session = nullptr;  // --resume: offered on every new connection
};

class Load {
 public:
  Load(const Options& o, SSL_CTX* ctx) : o_(o), ctx_(ctx), slots_(static_cast<size_t>(o.conns)) {
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(static_cast<uint16_t>(o.port));
    if (inet_pton(AF_INET, o.host.c_str(), &addr_.sin_addr) != 1) Usage("--host: not IPv4");
    ep_ = epoll_create1(EPOLL_CLOEXEC);
  }

  void Run() {
    const int64_t start = NowNs();
    measure_ns_ = start + static_cast<int64_t>(o_.warmup * 1e9);
    end_ns_ = measure_ns_ + static_cast<int64_t>(o_.duration * 1e9);
    for (size_t i = 0; i < slots_.size(); ++i) Open(i);
    double cpu0 = -1;
    bool measuring = false;
    epoll_event evs[256];
    for (int64_t now = NowNs(); now < end_ns_; now = NowNs()) {
      if (!measuring && now >= measure_ns_) {
        measuring = true;
        if (o_.server_pid) cpu0 = ServerCpuSeconds(o_.server_pid);
      }
      int n = epoll_wait(ep_, evs, 256, 50);
      for (int k = 0; k < n; ++k) Step(evs[k].data.u32);
    }
    double cpu1 = o_.server_pid ? ServerCpuSeconds(o_.server_pid) : -1;
    for (Slot& s : slots_) {
      Drop(s);
      if (s.session) SSL_SESSION_free(s.session);
    }
    Report(cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1);
  }

 private:
  void Open(size_t i) {
    Slot& s = slots_[i];
    s.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s.started_ns = NowNs();
    s.phase = Phase::kConnecting;
    if (connect(s.fd, reinterpret_cast<sockaddr*>(&addr_), sizeof addr_) != 0 &&
        errno != EINPROGRESS) {
      Error(s, std::strerror(errno));
      return Retry(i);
    }
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(ep_, EPOLL_CTL_ADD, s.fd, &ev);
  }

  void Retry(size_t i) {
    Drop(slots_[i]);
    if (NowNs() < end_ns_) Open(i);
  }

  void Drop(Slot& s) {
    if (s.ssl) SSL_free(s.ssl);
    s.ssl = nullptr;
    if (s.fd >= 0) close(s.fd);  // closing removes it from the epoll set
    s.fd = -1;
  }

  void Error(Slot&, const std::string& what) {
    if (NowNs() >= measure_ns_) ++errors_;
    if (first_error_.empty()) first_error_ = what;
  }

  void Want(Slot& s, size_t i, int err) {
    epoll_event ev{};
    ev.events = err == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(ep_, EPOLL_CTL_MOD, s.fd, &ev);
  }

  void Step(size_t i) {
    Slot& s = slots_[i];
    if (s.fd < 0) return;
    if (s.phase == Phase::kConnecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        Error(s, std::string("connect: ") + std::strerror(err));
        return Retry(i);
      }
      s.ssl = SSL_new(ctx_);
      SSL_set_fd(s.ssl, s.fd);
      SSL_set_tlsext_host_name(s.ssl, "localhost");
      if (s.session) SSL_set_session(s.ssl, s.session);
      s.phase = Phase::kHandshake;
    }
    if (s.phase == Phase::kHandshake) {
      int rc = SSL_connect(s.ssl);
      if (rc != 1) {
        int e = SSL_get_error(s.ssl, rc);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Want(s, i, e);
        unsigned long code = ERR_get_error();
        Error(s, std::string("handshake: ") + (code ? ERR_reason_error_string(code) : "failed"));
        ERR_clear_error();
        return Retry(i);
      }
      int64_t now = NowNs();
      if (o_.resume && s.session && !SSL_session_reused(s.ssl)) {
        Error(s, "a session was offered and not resumed");
      } else if (now >= measure_ns_ && now < end_ns_) {
        ++done_;
        latency_.Record(static_cast<uint64_t>(now - s.started_ns));
      }
      if (o_.resume && !s.session) {
        // TLS 1.3: the ticket comes after the handshake; TLS 1.2: the session is here.
        if (SSL_version(s.ssl) < TLS1_3_VERSION) {
          s.session = SSL_get1_session(s.ssl);
        } else {
          s.phase = Phase::kTicket;
          return Want(s, i, SSL_ERROR_WANT_READ);
        }
      }
      return Finish(i);
    }
    if (s.phase == Phase::kTicket) {
      char buf[256];
      size_t n = 0;
      int rc = SSL_read_ex(s.ssl, buf, sizeof buf, &n);
      int e = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(s.ssl, rc);
      SSL_SESSION* got = SSL_get1_session(s.ssl);
      if (got && SSL_SESSION_is_resumable(got)) {
        s.session = got;
        return Finish(i);
      }
      if (got) SSL_SESSION_free(got);
      if (e == SSL_ERROR_WANT_READ) return Want(s, i, e);
      Error(s, "no session ticket after the handshake");
      return Retry(i);
    }
  }

  void Finish(size_t i) {
    SSL_shutdown(slots_[i].ssl);  // our close_notify; not waiting for theirs
    Retry(i);
  }

  void Report(double server_cpu) {
    double rate = static_cast<double>(done_) / o_.duration;
    double ns = server_cpu >= 0 && done_ ? server_cpu * 1e9 / static_cast<double>(done_) : -1;
    double p50 = static_cast<double>(latency_.Quantile(0.50)) / 1e3;
    double p99 = static_cast<double>(latency_.Quantile(0.99)) / 1e3;
    if (o_.json) {
      std::printf("{\"msgs/s\": %.1f, \"handshakes\": %llu, \"errors\": %llu, \"p50_us\": %.1f, "
                  "\"p99_us\": %.1f, \"conns\": %d, \"resume\": %d",
                  rate, static_cast<unsigned long long>(done_),
                  static_cast<unsigned long long>(errors_), p50, p99, o_.conns, o_.resume);
      if (ns >= 0) std::printf(", \"server_cpu_s\": %.3f, \"server_cpu_ns_per_msg\": %.1f", server_cpu, ns);
      std::printf("}\n");
    } else {
      std::printf("handshakes/s=%.1f handshakes=%llu errors=%llu p50_us=%.1f p99_us=%.1f%s",
                  rate, static_cast<unsigned long long>(done_),
                  static_cast<unsigned long long>(errors_), p50, p99,
                  o_.resume ? " resumed" : " full");
      if (ns >= 0) std::printf(" server_cpu_us_per_handshake=%.1f", ns / 1e3);
      std::printf("\n");
    }
    if (!first_error_.empty()) std::fprintf(stderr, "gev-handshake-load: first error: %s\n",
                                            first_error_.c_str());
  }

 public:
  bool ok() const { return errors_ == 0 && done_ > 0; }

 private:
  const Options& o_;
  SSL_CTX* ctx_;
  std::vector<Slot> slots_;
  sockaddr_in addr_{};
  int ep_ = -1;
  int64_t measure_ns_ = 0, end_ns_ = 0;
  uint64_t done_ = 0, errors_ = 0;
  std::string first_error_;
  gev::load::Histogram latency_;
};

}  // namespace

int main(int argc, char** argv) {
  Options o = Parse(argc, argv);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  // No client cache: with one, OpenSSL retires a TLS 1.3 ticket once used, and each slot
  // offers its one session again and again (the server's work is the same either way).
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (o.version == "1.2") SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  if (o.version == "1.3") SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  Load load(o, ctx);
  load.Run();
  SSL_CTX_free(ctx);
  return load.ok() ? 0 : 1;
}
