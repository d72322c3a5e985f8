// gev-connect-load: connection churn against an echo server. Each thread, in a loop:
// connect, send one message, read its echo back and check it, close. What it measures
// is the server's cost per connection (accept, connect and close callbacks, the
// first read), which message-rate runs over long-lived connections never see.
//
//   gev-connect-load --port P [--threads T] [--size S] [--duration SEC] [--warmup SEC]
//                    [--server-pid PID] [--json]
//
// The JSON keys match gev-load's, with one message per connection ("msgs/s" is
// connections/s), so bench/compare_lib.sh tabulates it. Closing first leaves the
// client's ports in TIME_WAIT; on loopback Linux reuses them (tcp_tw_reuse = 2).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "histogram.h"

namespace {

using gev::load::Histogram;

int64_t NowNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  int threads = 4;
  size_t size = 64;
  double duration = 5;
  double warmup = 0;
  int server_pid = 0;
  bool json = false;
};

struct Result {
  Histogram latency_ns;  // connect..echo, connections finished inside the window
  uint64_t conns = 0;    // finished inside the window
  uint64_t errors = 0;
  std::string first_error;
};

[[noreturn]] void usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: gev-connect-load --port P [options]\n"
               "  --host H          server IPv4 address (default 127.0.0.1)\n"
               "  --threads T       client threads, each one connection at a time (default 4)\n"
               "  --size S          bytes sent and echoed per connection (default 64)\n"
               "  --duration SEC    measured time after warmup (default 5, max 600)\n"
               "  --warmup SEC      unmeasured time before the window (default 0)\n"
               "  --server-pid PID  also report the server's CPU time per connection\n"
               "  --json            print one JSON object instead of a text line\n"
               "Exit status is 0 only if every connection echoed its message.\n");
  std::exit(code);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") usage(0);
    if (a == "--json") {
      o.json = true;
      continue;
    }
    if (i + 1 >= argc) usage(2);
    const char* v = argv[++i];
    if (a == "--host")
      o.host = v;
    else if (a == "--port")
      o.port = std::atoi(v);
    else if (a == "--threads")
      o.threads = std::atoi(v);
    else if (a == "--size")
      o.size = static_cast<size_t>(std::atol(v));
    else if (a == "--duration")
      o.duration = std::atof(v);
    else if (a == "--warmup")
      o.warmup = std::atof(v);
    else if (a == "--server-pid")
      o.server_pid = std::atoi(v);
    else
      usage(2);
  }
  if (o.port <= 0 || o.port > 65535 || o.threads < 1 || o.threads > 256 || o.size < 1 ||
      o.size > (1 << 20) || o.duration <= 0 || o.duration > 600 || o.warmup < 0 || o.warmup > 600)
    usage(2);
  return o;
}

// utime + stime of /proc/PID/stat in seconds (-1 if unreadable).
double cpu_seconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t paren = s.rfind(')');
  if (paren == std::string::npos) return -1;
  std::vector<std::string> fields;
  size_t at = paren + 2;
  while (at < s.size()) {
    size_t sp = s.find(' ', at);
    fields.push_back(s.substr(at, sp - at));
    if (sp == std::string::npos) break;
    at = sp + 1;
  }
  if (fields.size() < 13) return -1;  // fields[11], [12] are stat fields 14, 15
  return static_cast<double>(std::stoull(fields[11]) + std::stoull(fields[12])) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

bool wait_readable(int fd, int64_t deadline_ns) {
  int64_t left_ms = (deadline_ns - NowNs()) / 1000000;
  pollfd p{fd, POLLIN, 0};
  return left_ms > 0 && ::poll(&p, 1, static_cast<int>(left_ms)) > 0;
}

// One connection's life; false (with *error) if it did not echo `msg` exactly.
bool one_connection(const sockaddr_in& to, const std::string& msg, std::string* buf,
                    std::string* error) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return *error = std::string("socket: ") + std::strerror(errno), false;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    *error = std::string("connect: ") + std::strerror(errno);
  } else if (::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(msg.size())) {
    *error = std::string("send: ") + std::strerror(errno);
  } else {
    size_t got = 0;
    int64_t deadline = NowNs() + 5'000'000'000;
    while (got < msg.size() && wait_readable(fd, deadline)) {
      ssize_t n = ::recv(fd, buf->data() + got, msg.size() - got, 0);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    ok = got == msg.size() && std::memcmp(buf->data(), msg.data(), got) == 0;
    if (!ok) *error = "echo missing or wrong (" + std::to_string(got) + " bytes)";
  }
  ::close(fd);
  return ok;
}

void run_thread(const Options& o, const sockaddr_in& to, int id, int64_t measure_ns, int64_t end_ns,
                Result* r) {
  std::string msg(o.size, '\0');
  for (size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<char>('a' + (i + id) % 26);
  std::string buf(o.size, '\0');
  for (uint64_t n = 0;; ++n) {
    int64_t start = NowNs();
    if (start >= end_ns) break;
    msg[0] = static_cast<char>('A' + n % 26);  // each connection's message differs
    std::string error;
    bool ok = one_connection(to, msg, &buf, &error);
    int64_t done = NowNs();
    if (!ok) {
      if (r->errors++ == 0) r->first_error = error;
      if (r->errors > 100) break;
      continue;
    }
    if (start >= measure_ns && done <= end_ns) {
      r->latency_ns.Record(static_cast<uint64_t>(done - start));
      ++r->conns;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(o.port));
  if (::inet_pton(AF_INET, o.host.c_str(), &to.sin_addr) != 1) usage(2);

  int64_t start = NowNs();
  int64_t measure = start + static_cast<int64_t>(o.warmup * 1e9);
  int64_t end = measure + static_cast<int64_t>(o.duration * 1e9);
  std::vector<Result> results(static_cast<size_t>(o.threads));
  std::vector<std::thread> threads;
  double cpu0 = -1, cpu1 = -1;
  for (int t = 0; t < o.threads; ++t)
    threads.emplace_back(run_thread, std::cref(o), std::cref(to), t, measure, end,
                         &results[static_cast<size_t>(t)]);
  if (o.server_pid) {
    int64_t now = NowNs();
    if (measure > now) std::this_thread::sleep_for(std::chrono::nanoseconds(measure - now));
    cpu0 = cpu_seconds(o.server_pid);
    now = NowNs();
    if (end > now) std::this_thread::sleep_for(std::chrono::nanoseconds(end - now));
    cpu1 = cpu_seconds(o.server_pid);
  }
  for (auto& t : threads) t.join();

  Result all;
  for (const Result& r : results) {
    all.latency_ns.Merge(r.latency_ns);
    all.conns += r.conns;
    if (all.errors == 0 && r.errors) all.first_error = r.first_error;
    all.errors += r.errors;
  }
  double rate = static_cast<double>(all.conns) / o.duration;
  double p50 = static_cast<double>(all.latency_ns.Quantile(0.50)) / 1e3;
  double p99 = static_cast<double>(all.latency_ns.Quantile(0.99)) / 1e3;
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line,
                o.json ? "{\"msgs/s\": %.0f, \"conns\": %llu, \"p50_us\": %.1f, \"p99_us\": %.1f, "
                         "\"errors\": %llu"
                       : "%.0f conns/s, %llu conns, p50 %.1f us, p99 %.1f us, %llu errors",
                rate, static_cast<unsigned long long>(all.conns), p50, p99,
                static_cast<unsigned long long>(all.errors));
  out += line;
  if (cpu0 >= 0 && cpu1 >= 0 && all.conns) {
    double ns = (cpu1 - cpu0) * 1e9 / static_cast<double>(all.conns);
    std::snprintf(line, sizeof line,
                  o.json ? ", \"server_cpu_s\": %.3f, \"server_cpu_ns_per_msg\": %.1f"
                         : ", server %.3f s CPU, %.1f ns per connection",
                  cpu1 - cpu0, ns);
    out += line;
  }
  if (o.json) out += "}";
  std::printf("%s\n", out.c_str());
  if (all.errors)
    std::fprintf(stderr, "gev-connect-load: %llu errors, first: %s\n",
                 static_cast<unsigned long long>(all.errors), all.first_error.c_str());
  return all.errors == 0 && all.conns > 0 ? 0 : 1;
}
