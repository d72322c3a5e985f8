// gev-udp-load: a UDP echo load generator. N peers (one socket each) send numbered
// datagrams, paced to a total rate or unpaced with a window in flight per peer, and
// check every reply byte for byte against what that peer sent. Reports datagrams/s,
// latency, losses (a datagram unanswered for --loss-ms) and, with --server-pid, the
// server's CPU per datagram over the measured window. One thread: pin it with taskset.
//
// Each request: peer id (u32), sequence (u32), then bytes derived from the sequence.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "histogram.h"
#include "proc_stat.h"

namespace {

using gev::load::Histogram;

constexpr int kBatch = 32;
constexpr uint32_t kRing = 4096;  // sequences remembered per peer (> any window)
constexpr size_t kHeader = 8;

int64_t now_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

double own_cpu_seconds() {
  timespec ts;
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  int peers = 16;
  size_t size = 64;
  int window = 4;
  double rate = 0;
  double duration = 5;
  double warmup = 1;
  int loss_ms = 200;
  int server_pid = 0;
  bool json = false;
};

[[noreturn]] void usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: gev-udp-load --port P [options]\n"
               "  --host H        server IPv4 address (default 127.0.0.1)\n"
               "  --peers N       client sockets, each a peer of its own (default 16)\n"
               "  --size S        datagram bytes, 8..65507 (default 64)\n"
               "  --window W      unpaced: datagrams in flight per peer (default 4)\n"
               "  --rate R        paced: R datagrams/s in total (default 0: unpaced)\n"
               "  --duration SEC  measured seconds after the warmup (default 5, max 600)\n"
               "  --warmup SEC    unmeasured seconds first (default 1)\n"
               "  --loss-ms MS    a datagram unanswered this long counts as lost (default 200)\n"
               "  --server-pid P  report the server's CPU time per datagram\n"
               "  --json          one JSON object (keys as gev-load's)\n");
  std::exit(code);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage(2);
      return argv[++i];
    };
    if (a == "--host") o.host = next();
    else if (a == "--port") o.port = std::atoi(next());
    else if (a == "--peers") o.peers = std::atoi(next());
    else if (a == "--size") o.size = std::strtoul(next(), nullptr, 10);
    else if (a == "--window") o.window = std::atoi(next());
    else if (a == "--rate") o.rate = std::atof(next());
    else if (a == "--duration") o.duration = std::atof(next());
    else if (a == "--warmup") o.warmup = std::atof(next());
    else if (a == "--loss-ms") o.loss_ms = std::atoi(next());
    else if (a == "--server-pid") o.server_pid = std::atoi(next());
    else if (a == "--json") o.json = true;
    else if (a == "-h" || a == "--help") usage(0);
    else {
      std::fprintf(stderr, "gev-udp-load: unknown argument %s\n", a.c_str());
      usage(2);
    }
  }
  if (o.port <= 0 || o.port > 65535 || o.peers < 1 || o.peers > 4096 || o.size < kHeader ||
      o.size > 65507 || o.window < 1 || o.window > 1024 || o.rate < 0 || o.duration <= 0 ||
      o.duration > 600 || o.warmup < 0 || o.warmup > 60 || o.loss_ms < 1)
    usage(2);
  return o;
}

struct Peer {
  int fd = -1;
  uint32_t id = 0;
  uint32_t next_seq = 0;
  uint32_t in_flight = 0;
  int64_t last_reply_ns = 0;
  std::vector<int64_t> sent_at;  // by seq % kRing; 0: not pending
};

class Load {
 public:
  explicit Load(const Options& o) : o_(o), expect_(o.size), buf_(kBatch * 65536) {
    server_.sin_family = AF_INET;
    server_.sin_port = htons(static_cast<uint16_t>(o.port));
    if (::inet_pton(AF_INET, o.host.c_str(), &server_.sin_addr) != 1) usage(2);
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    peers_.resize(static_cast<size_t>(o.peers));
    for (size_t i = 0; i < peers_.size(); ++i) {
      Peer& p = peers_[i];
      p.id = static_cast<uint32_t>(i);
      p.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (p.fd < 0 || ::connect(p.fd, reinterpret_cast<sockaddr*>(&server_), sizeof server_) != 0) {
        std::perror("gev-udp-load: socket");
        std::exit(1);
      }
      p.sent_at.assign(kRing, 0);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = p.id;
      ::epoll_ctl(ep_, EPOLL_CTL_ADD, p.fd, &ev);
    }
  }

  int run() {
    start_ = now_ns();
    measure_ = start_ + static_cast<int64_t>(o_.warmup * 1e9);
    end_ = measure_ + static_cast<int64_t>(o_.duration * 1e9);
    if (o_.rate == 0)
      for (Peer& p : peers_) send(p, static_cast<uint32_t>(o_.window));
    bool measuring = false;
    int64_t last_scan = start_;
    epoll_event evs[256];
    for (;;) {
      int64_t now = now_ns();
      if (!measuring && now >= measure_) {
        measuring = true;
        cpu0_ = o_.server_pid ? gev::load::process_cpu_seconds(o_.server_pid) : 0;
        own0_ = own_cpu_seconds();
      }
      if (now >= end_) break;
      if (o_.rate > 0) pace(now);
      if (now - last_scan > 50'000'000) {
        expire(now);
        last_scan = now;
      }
      int n = ::epoll_wait(ep_, evs, 256, o_.rate > 0 ? 1 : 10);
      for (int i = 0; i < n; ++i) receive(peers_[evs[i].data.u32], measuring);
    }
    double cpu1 = o_.server_pid ? gev::load::process_cpu_seconds(o_.server_pid) : 0;
    double own1 = own_cpu_seconds();
    report(cpu1 - cpu0_, own1 - own0_, cpu0_ < 0 || cpu1 < 0);
    return errors_ == 0 && msgs_ > 0 && !(o_.server_pid && (cpu0_ < 0 || cpu1 < 0)) ? 0 : 1;
  }

 private:
  void fill(uint8_t* d, const Peer& p, uint32_t seq) const {
    std::memcpy(d, &p.id, 4);
    std::memcpy(d + 4, &seq, 4);
    for (size_t i = kHeader; i < o_.size; ++i) d[i] = static_cast<uint8_t>(seq + i);
  }

  // count new datagrams from p, in one sendmmsg.
  void send(Peer& p, uint32_t count) {
    while (count > 0) {
      int n = static_cast<int>(count < kBatch ? count : kBatch);
      mmsghdr msgs[kBatch];
      iovec iov[kBatch];
      int64_t t = now_ns();
      for (int i = 0; i < n; ++i) {
        uint8_t* d = buf_.data() + static_cast<size_t>(i) * 65536;
        fill(d, p, p.next_seq + static_cast<uint32_t>(i));
        iov[i] = {d, o_.size};
        msgs[i] = {};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      int sent = ::sendmmsg(p.fd, msgs, static_cast<unsigned>(n), 0);
      if (sent <= 0) return;  // the socket buffer is full: the loss scan refills
      for (int i = 0; i < sent; ++i) {
        p.sent_at[(p.next_seq + static_cast<uint32_t>(i)) % kRing] = t;
      }
      p.next_seq += static_cast<uint32_t>(sent);
      p.in_flight += static_cast<uint32_t>(sent);
      count -= static_cast<uint32_t>(sent);
    }
  }

  void pace(int64_t now) {
    auto due = static_cast<uint64_t>(static_cast<double>(now - start_) * o_.rate / 1e9);
    while (paced_sent_ < due) {
      Peer& p = peers_[paced_sent_ % peers_.size()];
      if (p.in_flight >= kRing / 2) {  // this peer hears nothing back: lose its turn
        ++paced_sent_;
        continue;
      }
      send(p, 1);
      ++paced_sent_;
    }
  }

  void receive(Peer& p, bool measuring) {
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {buf_.data() + static_cast<size_t>(i) * 65536, 65536};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = ::recvmmsg(p.fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    int64_t t = now_ns();
    uint32_t answered = 0;
    for (int i = 0; i < n; ++i) {
      const uint8_t* d = static_cast<const uint8_t*>(iov[i].iov_base);
      uint32_t id = 0, seq = 0;
      if (msgs[i].msg_len >= kHeader) {
        std::memcpy(&id, d, 4);
        std::memcpy(&seq, d + 4, 4);
      }
      int64_t& at = p.sent_at[seq % kRing];
      if (msgs[i].msg_len != o_.size || id != p.id || seq >= p.next_seq) {
        ++errors_;  // not this peer's, or never sent
        continue;
      }
      fill(expect_.data(), p, seq);
      if (std::memcmp(d, expect_.data(), o_.size) != 0) {
        ++errors_;
        continue;
      }
      if (at == 0) {  // already counted lost, or a duplicate
        ++late_;
        continue;
      }
      if (measuring && t < end_) {
        ++msgs_;
        hist_.Record(static_cast<uint64_t>(t - at));
      }
      at = 0;
      --p.in_flight;
      ++answered;
    }
    p.last_reply_ns = t;
    if (o_.rate == 0 && answered > 0) send(p, answered);
  }

  // Datagrams unanswered for loss_ms are lost (UDP): forget them, refill the window.
  void expire(int64_t now) {
    int64_t limit = now - int64_t{o_.loss_ms} * 1'000'000;
    for (Peer& p : peers_) {
      if (p.in_flight == 0) continue;
      uint32_t gone = 0;
      for (uint32_t k = 1; k <= kRing && k <= p.next_seq; ++k) {
        int64_t& at = p.sent_at[(p.next_seq - k) % kRing];
        if (at != 0 && at < limit) {
          at = 0;
          ++gone;
        }
      }
      if (gone == 0) continue;
      lost_ += gone;
      p.in_flight -= gone;
      if (o_.rate == 0) send(p, gone);
    }
  }

  void report(double server_cpu, double own_cpu, bool cpu_unknown) const {
    double secs = static_cast<double>(end_ - measure_) / 1e9;
    double rate = static_cast<double>(msgs_) / secs;
    double us = 1e-3;
    std::printf(o_.json ? "{\"msgs/s\": %.0f, \"MB/s\": %.2f, \"p50_us\": %.1f, \"p99_us\": %.1f, "
                          "\"p999_us\": %.1f, \"max_us\": %.1f, \"client_cpu_s\": %.3f, "
                          "\"errors\": %" PRIu64 ", \"lost\": %" PRIu64 ", \"late\": %" PRIu64 ", \"msgs\": %" PRIu64
                          ", \"peers\": %d, \"size\": %zu, \"window\": %d, \"rate\": %.0f, "
                          "\"duration_s\": %.3f"
                        : "msgs/s=%.0f MB/s=%.2f p50_us=%.1f p99_us=%.1f p999_us=%.1f "
                          "max_us=%.1f client_cpu_s=%.3f errors=%" PRIu64 " lost=%" PRIu64 " late=%" PRIu64
                          " msgs=%" PRIu64 " peers=%d size=%zu window=%d rate=%.0f duration_s=%.3f",
                rate, rate * static_cast<double>(o_.size) / 1e6,
                static_cast<double>(hist_.Quantile(0.5)) * us,
                static_cast<double>(hist_.Quantile(0.99)) * us,
                static_cast<double>(hist_.Quantile(0.999)) * us,
                static_cast<double>(hist_.max()) * us, own_cpu, errors_, lost_, late_, msgs_, o_.peers,
                o_.size, o_.window, o_.rate, secs);
    if (o_.server_pid && !cpu_unknown)
      std::printf(o_.json ? ", \"server_cpu_s\": %.3f, \"server_cpu_ns_per_msg\": %.1f"
                          : " server_cpu_s=%.3f server_cpu_ns_per_msg=%.1f",
                  server_cpu, msgs_ ? server_cpu * 1e9 / static_cast<double>(msgs_) : 0.0);
    std::printf(o_.json ? "}\n" : "\n");
  }

  const Options& o_;
  sockaddr_in server_{};
  int ep_ = -1;
  std::vector<Peer> peers_;
  std::vector<uint8_t> expect_;
  std::vector<uint8_t> buf_;
  int64_t start_ = 0, measure_ = 0, end_ = 0;
  uint64_t paced_sent_ = 0;
  uint64_t msgs_ = 0, errors_ = 0, lost_ = 0, late_ = 0;
  double cpu0_ = 0, own0_ = 0;
  Histogram hist_;
};

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  return Load(o).run();
}
