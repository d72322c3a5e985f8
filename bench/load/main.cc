// gev-load: echo-server load generator. Opens N connections, keeps messages
// in flight, verifies every echoed byte, reports throughput, latency and CPU.
// With --ws the messages travel as WebSocket frames (optionally permessage-deflate):
// the same pacing, verification and accounting, so raw and WebSocket runs compare.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "histogram.h"
#include "worker.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

using gev::load::NowNs;

constexpr double kMaxDuration = 600;
constexpr double kMaxWarmup = 60;
constexpr uint64_t kMaxBufferedBytes = uint64_t{2} << 30;
constexpr int kHandshakeTimeoutS = 5;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  int conns = 1;
  int pipeline = 1;
  long size = 64;
  double duration = 5;
  double rate = 0;
  double warmup = 0;
  int threads = 1;
  int server_pid = 0;
  bool json = false;
  bool ws = false;
  bool text = false;
  bool deflate = false;
  bool compressible = false;
  int deflate_level = 1;
  std::string path = "/";
  bool tls = false;                // --tls
  std::string tls_version;         // "", "1.2" or "1.3"
  std::string tls_ciphers;         // TLS 1.2 list / TLS 1.3 suites: OpenSSL syntax
};

constexpr char kUsage[] =
    "usage: gev-load --port P [options]\n"
    "  --host H          server IPv4 address (default 127.0.0.1)\n"
    "  --port P          server port (required)\n"
    "  --conns N         connections (default 1)\n"
    "  --pipeline D      max messages in flight per connection (default 1)\n"
    "  --size S          message size in bytes (default 64)\n"
    "  --duration SEC    measured time after warmup (default 5, max 600)\n"
    "  --warmup SEC      unmeasured time before the window (default 0)\n"
    "  --rate R          total msgs/s over all connections; 0 = unpaced\n"
    "  --threads T       client threads, each with its own epoll (default 1)\n"
    "  --server-pid PID  also report the server's CPU time (/proc/PID/stat)\n"
    "  --json            print one JSON object instead of a text line\n"
    "  --compressible    payloads made of 64 distinct 8-byte words, which deflate\n"
    "                    (~1.3:1 at 512 B, ~4.7:1 at 16 KiB); default pseudo-random bytes\n"
    "WebSocket (RFC 6455) instead of raw bytes:\n"
    "  --ws              upgrade each connection (checks 101 and Sec-WebSocket-Accept),\n"
    "                    send each message as one masked frame, verify the echoed frames\n"
    "  --text            text frames (payload bytes kept below 0x80); default binary\n"
    "  --deflate         offer permessage-deflate and compress every message (zlib);\n"
    "                    the run fails if the server declines\n"
    "  --deflate-level L client zlib level 0-9 (default 1)\n"
    "  --path P          request target of the upgrade (default /)\n"
    "TLS (handshakes before the clock starts, the certificate not verified):\n"
    "  --tls             TLS on every connection (server name localhost)\n"
    "  --tls-version V   1.2 or 1.3 only (default: the best both speak)\n"
    "  --tls-cipher C    the one cipher (1.2) or suite (1.3) to offer\n"
    "Exit status is 0 only if no errors occurred and messages were echoed.\n";

[[noreturn]] void Usage(const char* err) {
  if (err == nullptr) {
    std::fputs(kUsage, stdout);
    std::exit(0);
  }
  std::fprintf(stderr, "gev-load: %s (see --help)\n", err);
  std::exit(2);
}

double ParseNumber(std::string_view name, const std::string& v, double lo, double hi) {
  char* end = nullptr;
  errno = 0;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || errno != 0 || !(d >= lo && d <= hi)) {
    char msg[256];
    std::snprintf(msg, sizeof(msg), "bad value for --%.*s: '%s' (allowed %g..%g)",
                  static_cast<int>(name.size()), name.data(), v.c_str(), lo, hi);
    Usage(msg);
  }
  return d;
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") Usage(nullptr);
    bool* flag = arg == "--json"           ? &o.json
                 : arg == "--ws"           ? &o.ws
                 : arg == "--text"         ? &o.text
                 : arg == "--deflate"      ? &o.deflate
                 : arg == "--compressible" ? &o.compressible
                 : arg == "--tls"          ? &o.tls
                                           : nullptr;
    if (flag != nullptr) {
      *flag = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) Usage(("unexpected argument: " + arg).c_str());
    std::string name = arg.substr(2), value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      Usage(("missing value for " + arg).c_str());
    }
    if (name == "host") {
      o.host = value;
    } else if (name == "port") {
      o.port = static_cast<int>(ParseNumber(name, value, 1, 65535));
    } else if (name == "conns") {
      o.conns = static_cast<int>(ParseNumber(name, value, 1, 100000));
    } else if (name == "pipeline") {
      o.pipeline = static_cast<int>(ParseNumber(name, value, 1, 65536));
    } else if (name == "size") {
      o.size = static_cast<long>(ParseNumber(name, value, 1, 64 << 20));
    } else if (name == "duration") {
      o.duration = ParseNumber(name, value, 0.001, kMaxDuration);
    } else if (name == "warmup") {
      o.warmup = ParseNumber(name, value, 0, kMaxWarmup);
    } else if (name == "rate") {
      o.rate = ParseNumber(name, value, 0, 1e9);
    } else if (name == "threads") {
      o.threads = static_cast<int>(ParseNumber(name, value, 1, 256));
    } else if (name == "deflate-level") {
      o.deflate_level = static_cast<int>(ParseNumber(name, value, 0, 9));
    } else if (name == "path") {
      if (value.empty() || value[0] != '/' || value.find_first_of(" \r\n") != std::string::npos) {
        Usage("--path must start with / and hold no spaces or line breaks");
      }
      o.path = value;
    } else if (name == "tls-version") {
      if (value != "1.2" && value != "1.3") Usage("--tls-version must be 1.2 or 1.3");
      o.tls_version = value;
    } else if (name == "tls-cipher") {
      o.tls_ciphers = value;
    } else if (name == "server-pid") {
      o.server_pid = static_cast<int>(ParseNumber(name, value, 1, 1 << 30));
    } else {
      Usage(("unknown flag: --" + name).c_str());
    }
  }
  if (o.port == 0) Usage("--port is required");
  if ((o.text || o.deflate) && !o.ws) Usage("--text and --deflate need --ws");
  if (o.threads > o.conns) o.threads = o.conns;
  // Send buffers hold up to pipeline * size bytes per connection.
  if (static_cast<uint64_t>(o.conns) * static_cast<uint64_t>(o.pipeline) *
          static_cast<uint64_t>(o.size) >
      kMaxBufferedBytes) {
    Usage("conns * pipeline * size exceeds 2 GiB");
  }
  return o;
}

// Blocking connect (simple, and loopback is fast), then with --ws a blocking
// handshake under a timeout, then non-blocking for epoll. Handshakes happen before
// the clock starts: the measured window holds messages only. Returns "" or an error.
// --tls: one client context for every connection (no verification: a benchmark).
SSL_CTX* TlsContext(const Options& o) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return nullptr;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (o.tls_version == "1.2") SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  if (o.tls_version == "1.3") SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  if (!o.tls_ciphers.empty() &&
      SSL_CTX_set_cipher_list(ctx, o.tls_ciphers.c_str()) != 1 &&
      SSL_CTX_set_ciphersuites(ctx, o.tls_ciphers.c_str()) != 1) {
    SSL_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

std::string Connect(const sockaddr_in& addr, const Options& o, SSL_CTX* tls, int* fd_out,
                    SSL** ssl_out, gev::load::ws::Session* session) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::strerror(errno);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::string err;
  SSL* ssl = nullptr;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    err = std::strerror(errno);
  } else {
    timeval tv{kHandshakeTimeoutS, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (tls) {
      ssl = SSL_new(tls);
      if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_set_tlsext_host_name(ssl, "localhost") != 1 ||
          SSL_connect(ssl) != 1) {
        unsigned long e = ERR_get_error();
        err = std::string("TLS handshake: ") + (e ? ERR_reason_error_string(e) : "failed");
      }
    }
    if (err.empty() && o.ws) {
      err = gev::load::ws::Handshake(fd, ssl, o.host + ":" + std::to_string(o.port), o.path,
                                     o.deflate, session);
      if (!err.empty()) err = "websocket handshake: " + err;
    }
  }
  if (err.empty() && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
    err = std::strerror(errno);
  }
  if (!err.empty()) {
    if (ssl) SSL_free(ssl);
    close(fd);
    return err;
  }
  *fd_out = fd;
  *ssl_out = ssl;
  return "";
}

// utime + stime (fields 14, 15) of /proc/PID/stat in seconds; includes all
// threads of the process.
std::optional<double> ProcessCpuSeconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return std::nullopt;
  // comm (field 2) may contain spaces and ')', so parse after the last ')'.
  size_t paren = line.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(paren + 1));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int n = 3; n <= 15 && rest >> field; ++n) {
    if (n == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (n == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  if (!rest) return std::nullopt;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double ClientCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// raw, or ws-binary / ws-text with "+deflate".
const char* Mode(const Options& o) {
  if (!o.ws) return "raw";
  if (o.text) return o.deflate ? "ws-text+deflate" : "ws-text";
  return o.deflate ? "ws-binary+deflate" : "ws-binary";
}

void SleepUntil(int64_t t_ns) {
  timespec ts{static_cast<time_t>(t_ns / 1000000000), static_cast<long>(t_ns % 1000000000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = ParseOptions(argc, argv);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(o.port));
  if (inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1) {
    Usage("--host must be a numeric IPv4 address");
  }

  SSL_CTX* tls = nullptr;
  if (o.tls && !(tls = TlsContext(o))) {
    std::fprintf(stderr, "gev-load: cannot make a TLS context (--tls-cipher '%s'?)\n",
                 o.tls_ciphers.c_str());
    return 2;
  }
  std::vector<int> fds;
  std::vector<SSL*> ssls;
  std::vector<gev::load::ws::Session> sessions;
  for (int i = 0; i < o.conns; ++i) {
    int fd = -1;
    SSL* ssl = nullptr;
    gev::load::ws::Session session;
    std::string err = Connect(addr, o, tls, &fd, &ssl, &session);
    if (!err.empty()) {
      std::fprintf(stderr, "gev-load: connect #%d to %s:%d: %s\n", i, o.host.c_str(), o.port,
                   err.c_str());
      for (int f : fds) close(f);
      return 1;
    }
    fds.push_back(fd);
    if (tls) ssls.push_back(ssl);
    if (o.ws) sessions.push_back(session);
  }
  if (tls && !ssls.empty()) {
    std::fprintf(stderr, "gev-load: TLS %s %s\n", SSL_get_version(ssls[0]),
                 SSL_get_cipher_name(ssls[0]));
  }

  const int64_t start = NowNs();
  const int64_t measure = start + static_cast<int64_t>(o.warmup * 1e9);
  const int64_t end = measure + static_cast<int64_t>(o.duration * 1e9);

  std::vector<gev::load::WorkerConfig> cfgs(o.threads);
  std::vector<gev::load::WorkerResult> results(o.threads);
  size_t next = 0;
  for (int t = 0; t < o.threads; ++t) {
    auto& c = cfgs[t];
    size_t share = (fds.size() - next) / static_cast<size_t>(o.threads - t);
    c.fds.assign(fds.begin() + next, fds.begin() + next + share);
    if (o.ws) c.sessions.assign(sessions.begin() + next, sessions.begin() + next + share);
    if (tls) c.tls.assign(ssls.begin() + next, ssls.begin() + next + share);
    c.first_conn_id = next;
    next += share;
    c.size = static_cast<size_t>(o.size);
    c.pipeline = static_cast<uint32_t>(o.pipeline);
    c.rate = o.rate * static_cast<double>(share) / o.conns;
    c.start_ns = start;
    c.measure_ns = measure;
    c.end_ns = end;
    c.ascii = o.text;
    c.compressible = o.compressible;
    c.opcode = o.text ? gev::load::ws::kText : gev::load::ws::kBinary;
    c.deflate_level = o.deflate_level;
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back(gev::load::RunWorker, std::cref(cfgs[t]), &results[t]);
  }

  // Sample CPU at the window edges; workers use the same clock for stats.
  uint64_t errors = 0;
  std::optional<double> srv0, srv1;
  SleepUntil(measure);
  double cli0 = ClientCpuSeconds();
  if (o.server_pid != 0) srv0 = ProcessCpuSeconds(o.server_pid);
  SleepUntil(end);
  double cli1 = ClientCpuSeconds();
  if (o.server_pid != 0) srv1 = ProcessCpuSeconds(o.server_pid);
  for (auto& th : threads) th.join();
  if (o.server_pid != 0 && (!srv0 || !srv1)) {
    std::fprintf(stderr, "gev-load: cannot read /proc/%d/stat\n", o.server_pid);
    ++errors;
  }

  gev::load::Histogram hist;
  uint64_t msgs = 0, msgs_total = 0;
  for (const auto& r : results) {
    hist.Merge(r.latency_ns);
    msgs += r.msgs;
    msgs_total += r.msgs_total;
    errors += r.errors;
  }
  if (msgs == 0) {
    std::fprintf(stderr, "gev-load: no message echoed in the window (%" PRIu64 " in total)\n",
                 msgs_total);
  }

  const double secs = static_cast<double>(end - measure) / 1e9;
  const double msgs_s = static_cast<double>(msgs) / secs;
  const double mb_s = msgs_s * static_cast<double>(o.size) / 1e6;
  const double us = 1e-3;
  char line[1024];
  int len = std::snprintf(
      line, sizeof(line),
      o.json ? "{\"msgs/s\": %.0f, \"MB/s\": %.2f, \"p50_us\": %.1f, "
               "\"p99_us\": %.1f, \"p999_us\": %.1f, \"max_us\": %.1f, "
               "\"client_cpu_s\": %.3f, \"errors\": %" PRIu64 ", \"msgs\": %" PRIu64
               ", \"conns\": %d, \"size\": %ld, \"pipeline\": %d, "
               "\"rate\": %.0f, \"duration_s\": %.3f, \"threads\": %d, \"mode\": \"%s\""
             : "msgs/s=%.0f MB/s=%.2f p50_us=%.1f p99_us=%.1f p999_us=%.1f "
               "max_us=%.1f client_cpu_s=%.3f errors=%" PRIu64 " msgs=%" PRIu64
               " conns=%d size=%ld pipeline=%d rate=%.0f duration_s=%.3f "
               "threads=%d mode=%s",
      msgs_s, mb_s, static_cast<double>(hist.Quantile(0.50)) * us,
      static_cast<double>(hist.Quantile(0.99)) * us, static_cast<double>(hist.Quantile(0.999)) * us,
      static_cast<double>(hist.max()) * us, cli1 - cli0, errors, msgs, o.conns, o.size, o.pipeline,
      o.rate, secs, o.threads, Mode(o));
  std::string out(line, static_cast<size_t>(len));
  if (srv0 && srv1) {
    const double cpu = *srv1 - *srv0;
    const double ns_msg = msgs > 0 ? cpu * 1e9 / static_cast<double>(msgs) : 0;
    std::snprintf(line, sizeof(line),
                  o.json ? ", \"server_cpu_s\": %.3f, "
                           "\"server_cpu_ns_per_msg\": %.1f"
                         : " server_cpu_s=%.3f server_cpu_ns_per_msg=%.1f",
                  cpu, ns_msg);
    out += line;
  }
  if (o.json) out += "}";
  std::puts(out.c_str());
  return errors == 0 && msgs > 0 ? 0 : 1;
}
