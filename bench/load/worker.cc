// gev-load worker: a level-triggered epoll client loop that keeps messages in
// flight on its connections, checks every echoed byte and times each message.
#include "worker.h"

#include <openssl/ssl.h>

#include <errno.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

namespace gev::load {
namespace {

constexpr size_t kReadBufSize = 256 * 1024;
constexpr int kMaxEvents = 256;
constexpr int kMaxPrintedErrors = 10;
constexpr unsigned long kTimerSlackNs = 20000;

// Shared by all workers so a broken server cannot flood stderr.
std::atomic<int> g_printed_errors{0};

uint64_t Mix64(uint64_t x) {  // splitmix64 finalizer
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Message `seq` of a connection: bytes [0,8) carry seq little-endian
// (truncated for tiny messages) so error dumps are readable; the rest is a
// shared random pad XORed with a per-(connection, seq) key, so a chunk that is
// misplaced, duplicated, reordered or from another connection never matches.
// With `ascii`, every byte has its top bit cleared so text frames are valid UTF-8.
// With `compressible`, the pad's 8-byte words are drawn from a set of kWords: the key
// has period 8 and words are 8-aligned, so repeats survive the XOR and deflate finds
// them within a message (~1.3:1 at 512 B, ~4.7:1 at 16 KiB), while messages still
// differ from each other.
class Payload {
 public:
  static constexpr uint64_t kWords = 64;

  Payload(size_t size, bool ascii, bool compressible) : pad_((size + 7) / 8 * 8), ascii_(ascii) {
    uint64_t s = 42;
    for (size_t i = 0; i < pad_.size(); i += 8) {
      uint64_t w = compressible ? Mix64(1000 + Mix64(s++) % kWords) : Mix64(s++);
      std::memcpy(&pad_[i], &w, 8);
    }
  }

  // Writes bytes [off, off+n) of the message identified by (key, seq).
  void Fill(uint64_t key, uint64_t seq, size_t off, size_t n, uint8_t* dst) const {
    FillRaw(key, seq, off, n, dst);
    if (ascii_) {
      for (size_t i = 0; i < n; ++i) dst[i] &= 0x7F;
    }
  }

 private:
  void FillRaw(uint64_t key, uint64_t seq, size_t off, size_t n, uint8_t* dst) const {
    uint8_t kb[8];
    std::memcpy(kb, &key, 8);
    size_t i = off;
    const size_t end = off + n;
    for (; i < end && (i < 8 || (i & 7) != 0); ++i) {
      *dst++ =
          i < 8 ? static_cast<uint8_t>(seq >> (8 * i)) : static_cast<uint8_t>(pad_[i] ^ kb[i & 7]);
    }
    // Word loop: i is 8-aligned, so byte j of `key` in memory is kb[j].
    for (; i + 8 <= end; i += 8, dst += 8) {
      uint64_t w;
      std::memcpy(&w, &pad_[i], 8);
      w ^= key;
      std::memcpy(dst, &w, 8);
    }
    for (; i < end; ++i) *dst++ = static_cast<uint8_t>(pad_[i] ^ kb[i & 7]);
  }

  std::vector<uint8_t> pad_;
  bool ascii_;
};

// --ws state of one connection: the frame reader and, with permessage-deflate, the
// compression contexts (one each way, as the extension keeps them per connection).
struct WsConn {
  WsConn(const ws::Session& s, uint8_t opcode, size_t size, int level)
      : inflater(s.deflate ? std::make_unique<ws::Decompressor>() : nullptr),
        deflater(s.deflate ? std::make_unique<ws::Compressor>(s.client_window_bits, level,
                                                              s.client_no_context_takeover)
                           : nullptr),
        reader(opcode, size, inflater.get()) {}
  bool ok() const { return !inflater || (inflater->ok() && deflater->ok()); }

  std::unique_ptr<ws::Decompressor> inflater;
  std::unique_ptr<ws::Compressor> deflater;
  ws::Reader reader;
};

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;  // --tls
  uint64_t id = 0;
  std::vector<uint8_t> out;  // queued bytes not yet accepted by the kernel
  size_t out_off = 0;
  uint64_t sent_seq = 0;  // messages queued so far
  uint64_t recv_seq = 0;  // message currently being received
  size_t recv_off = 0;    // bytes of recv_seq already received
  uint64_t bytes_written = 0;
  uint64_t bytes_read = 0;
  std::vector<int64_t> send_ns;  // ring indexed by seq % pipeline
  uint32_t credits = 0;          // paced mode: sends the schedule allows
  bool want_out = false;
  std::unique_ptr<WsConn> ws;  // --ws only
};

class Worker {
 public:
  Worker(const WorkerConfig& cfg, WorkerResult* res)
      : cfg_(cfg), res_(res), payload_(cfg.size, cfg.ascii, cfg.compressible) {}

  void Run();

 private:
  uint64_t Key(const Conn& c, uint64_t seq) const { return Mix64((c.id << 40) ^ seq); }
  void Fail(Conn& c, const char* what);
  void Close(Conn& c);
  ssize_t SendSome(Conn& c, const uint8_t* p, size_t n);
  ssize_t ReadSome(Conn& c, uint8_t* p, size_t n);
  void SetWantOut(Conn& c, bool on);
  void QueueAndSend(Conn& c, int64_t now);
  void AppendFrame(Conn& c, uint64_t seq);
  void Flush(Conn& c);
  void OnReadable(Conn& c);
  void Consume(Conn& c, const uint8_t* p, size_t n, int64_t now);
  void ConsumeFrames(Conn& c, const uint8_t* p, size_t n, int64_t now);
  bool Verify(Conn& c, const uint8_t* p, size_t n);
  void Complete(Conn& c, int64_t now);
  void ReleaseSlots(int64_t now);
  int Wait(epoll_event* evs, int64_t now);

  const WorkerConfig& cfg_;
  WorkerResult* res_;
  Payload payload_;
  std::vector<Conn> conns_;
  int ep_ = -1;
  std::vector<uint8_t> rbuf_ = std::vector<uint8_t>(kReadBufSize);
  std::vector<uint8_t> expect_ = std::vector<uint8_t>(kReadBufSize);
  std::vector<uint8_t> msg_;  // --ws --deflate: a message before compression
  double slot_ns_ = 0;        // paced: interval between sends of this worker
  double next_slot_ = 0;      // paced: CLOCK_MONOTONIC ns of the next send slot
  size_t slot_ = 0;           // paced: round-robin index of the next slot owner
  bool have_pwait2_ = true;
};

void Worker::Fail(Conn& c, const char* what) {
  if (c.fd < 0) return;
  ++res_->errors;
  if (g_printed_errors.fetch_add(1) < kMaxPrintedErrors) {
    std::fprintf(stderr, "gev-load: conn %" PRIu64 ": %s\n", c.id, what);
  }
  // The stream is unusable after any error; drop it instead of reporting a
  // cascade of follow-up mismatches.
  epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
  Close(c);
}

void Worker::Close(Conn& c) {
  if (c.ssl) SSL_free(c.ssl);
  c.ssl = nullptr;
  if (c.fd >= 0) close(c.fd);
  c.fd = -1;
}

// send(2), or SSL_write_ex over --tls; -1 with errno EAGAIN when the socket is full.
ssize_t Worker::SendSome(Conn& c, const uint8_t* p, size_t n) {
  if (!c.ssl) return send(c.fd, p, n, MSG_NOSIGNAL);
  size_t done = 0;
  if (SSL_write_ex(c.ssl, p, n, &done) == 1) return static_cast<ssize_t>(done);
  int e = SSL_get_error(c.ssl, 0);
  errno = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? EAGAIN : EIO;
  return -1;
}

// read(2), or SSL_read_ex over --tls (0: the peer ended its stream).
ssize_t Worker::ReadSome(Conn& c, uint8_t* p, size_t n) {
  if (!c.ssl) return read(c.fd, p, n);
  size_t done = 0;
  if (SSL_read_ex(c.ssl, p, n, &done) == 1) return static_cast<ssize_t>(done);
  int e = SSL_get_error(c.ssl, 0);
  if (e == SSL_ERROR_ZERO_RETURN) return 0;
  errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : EIO;
  return -1;
}

void Worker::SetWantOut(Conn& c, bool on) {
  if (c.want_out == on || c.fd < 0) return;
  c.want_out = on;
  epoll_event ev{};
  ev.events = on ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  ev.data.u32 = static_cast<uint32_t>(&c - conns_.data());
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
}

// Queues as many new messages as the pipeline depth (and, when paced, the
// schedule) allows, then tries to write them right away.
void Worker::QueueAndSend(Conn& c, int64_t now) {
  if (c.fd < 0) return;
  uint64_t in_flight = c.sent_seq - c.recv_seq;
  uint64_t n = cfg_.pipeline - in_flight;
  if (cfg_.rate > 0) {
    n = std::min<uint64_t>(n, c.credits);
    c.credits -= static_cast<uint32_t>(n);
  }
  if (n == 0) return;
  if (c.out_off > 0) {  // keep the buffer bounded by pipeline * size
    c.out.erase(c.out.begin(), c.out.begin() + c.out_off);
    c.out_off = 0;
  }
  if (c.ws) {
    for (uint64_t i = 0; i < n && c.fd >= 0; ++i) {  // AppendFrame may fail the conn
      c.send_ns[c.sent_seq % cfg_.pipeline] = now;
      AppendFrame(c, c.sent_seq++);
    }
  } else {
    size_t pos = c.out.size();
    c.out.resize(pos + n * cfg_.size);
    for (uint64_t i = 0; i < n; ++i, pos += cfg_.size) {
      uint64_t seq = c.sent_seq++;
      payload_.Fill(Key(c, seq), seq, 0, cfg_.size, &c.out[pos]);
      c.send_ns[seq % cfg_.pipeline] = now;
    }
  }
  if (c.fd >= 0 && !c.want_out) Flush(c);  // if want_out, the socket was full: wait
}

// Appends message `seq` as one masked FIN frame, compressed when deflate is on.
void Worker::AppendFrame(Conn& c, uint64_t seq) {
  const uint32_t mask = static_cast<uint32_t>(Mix64(~Key(c, seq)));
  const size_t pos = c.out.size();
  if (!c.ws->deflater) {
    const size_t h = ws::HeaderSize(cfg_.size);
    c.out.resize(pos + h + cfg_.size);
    ws::WriteHeader(&c.out[pos], cfg_.opcode, false, cfg_.size, mask);
    payload_.Fill(Key(c, seq), seq, 0, cfg_.size, &c.out[pos + h]);
    ws::ApplyMask(&c.out[pos + h], cfg_.size, mask);
    return;
  }
  msg_.resize(cfg_.size);
  payload_.Fill(Key(c, seq), seq, 0, cfg_.size, msg_.data());
  // Compress after room for the longest header, then slide the payload back to
  // where the real header ends.
  constexpr size_t kMaxHeader = 14;
  c.out.resize(pos + kMaxHeader);
  if (!c.ws->deflater->Compress(msg_.data(), msg_.size(), c.out)) {
    c.out.resize(pos);
    Fail(c, "deflate failed");
    return;
  }
  const size_t len = c.out.size() - pos - kMaxHeader;
  const size_t h = ws::HeaderSize(len);
  std::memmove(&c.out[pos + h], &c.out[pos + kMaxHeader], len);
  c.out.resize(pos + h + len);
  ws::WriteHeader(&c.out[pos], cfg_.opcode, true, len, mask);
  ws::ApplyMask(&c.out[pos + h], len, mask);
}

void Worker::Flush(Conn& c) {
  while (c.fd >= 0 && c.out_off < c.out.size()) {
    ssize_t n = SendSome(c, c.out.data() + c.out_off, c.out.size() - c.out_off);
    if (n > 0) {
      c.out_off += static_cast<size_t>(n);
      c.bytes_written += static_cast<uint64_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      SetWantOut(c, true);
      return;
    } else {
      Fail(c, n < 0 ? std::strerror(errno) : "send returned 0");
      return;
    }
  }
  c.out.clear();
  c.out_off = 0;
  SetWantOut(c, false);
}

void Worker::OnReadable(Conn& c) {
  // Over TLS, read until OpenSSL wants the socket again: a record it has decrypted but
  // not handed out would raise no further epoll event.
  do {
    ssize_t n = ReadSome(c, rbuf_.data(), rbuf_.size());
    if (n > 0) {
      int64_t now = NowNs();
      if (c.ws) {
        ConsumeFrames(c, rbuf_.data(), static_cast<size_t>(n), now);
      } else {
        Consume(c, rbuf_.data(), static_cast<size_t>(n), now);
      }
      QueueAndSend(c, now);
    } else if (n == 0) {
      Fail(c, "server closed the connection");
    } else {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        Fail(c, c.ssl ? "TLS read failed" : std::strerror(errno));
      return;
    }
  } while (c.ssl && c.fd >= 0);
}

// Raw echo: verifies received bytes against what was sent and completes messages.
void Worker::Consume(Conn& c, const uint8_t* p, size_t n, int64_t now) {
  if (c.bytes_read + n > c.bytes_written) {
    Fail(c, "received more bytes than were sent");
    return;
  }
  c.bytes_read += n;
  while (n > 0) {
    size_t take = std::min(n, cfg_.size - c.recv_off);
    if (!Verify(c, p, take)) return;
    p += take;
    n -= take;
    if (c.recv_off == cfg_.size) Complete(c, now);
  }
}

// WebSocket echo: the reader takes frames apart (and inflates them); their payloads
// are verified like raw bytes, one frame per message.
void Worker::ConsumeFrames(Conn& c, const uint8_t* p, size_t n, int64_t now) {
  struct Sink : ws::Reader::Sink {
    Worker* w;
    Conn* c;
    int64_t now;
    Sink(Worker* wk, Conn* cn, int64_t t) : w(wk), c(cn), now(t) {}
    bool Begin() override {
      if (c->recv_seq < c->sent_seq) return true;
      w->Fail(*c, "an echo of a message that was never sent");
      return false;
    }
    bool Bytes(const uint8_t* b, size_t k) override {
      if (k <= w->cfg_.size - c->recv_off) return w->Verify(*c, b, k);
      w->Fail(*c, "echo longer than the message");
      return false;
    }
    bool End() override {
      if (c->recv_off == w->cfg_.size) {
        w->Complete(*c, now);
        return true;
      }
      w->Fail(*c, "echo shorter than the message");
      return false;
    }
  } sink(this, &c, now);
  std::string err = c.ws->reader.Feed(p, n, sink);
  if (!err.empty()) Fail(c, ("websocket: " + err).c_str());  // no-op if a sink failed
}

// Checks p[0..n) against bytes [recv_off, recv_off+n) of message recv_seq.
bool Worker::Verify(Conn& c, const uint8_t* p, size_t n) {
  payload_.Fill(Key(c, c.recv_seq), c.recv_seq, c.recv_off, n, expect_.data());
  if (std::memcmp(p, expect_.data(), n) != 0) {
    size_t i = 0;
    while (p[i] == expect_[i]) ++i;
    char msg[160];
    std::snprintf(msg, sizeof(msg),
                  "mismatch in msg seq %" PRIu64 " at offset %zu: expected 0x%02x got 0x%02x",
                  c.recv_seq, c.recv_off + i, expect_[i], p[i]);
    Fail(c, msg);
    return false;
  }
  c.recv_off += n;
  return true;
}

void Worker::Complete(Conn& c, int64_t now) {
  int64_t lat = now - c.send_ns[c.recv_seq % cfg_.pipeline];
  if (now >= cfg_.measure_ns && now < cfg_.end_ns) {
    res_->latency_ns.Record(static_cast<uint64_t>(lat));
    ++res_->msgs;
  }
  ++res_->msgs_total;
  ++c.recv_seq;
  c.recv_off = 0;
}

// Paced mode: one global schedule per worker whose slots go round-robin to
// the connections, so sends are evenly spread over time and connections.
// A connection at full pipeline banks the slot as a credit (max pipeline);
// beyond that the slot is lost, so a slow server sees the rate drop instead
// of a burst later.
void Worker::ReleaseSlots(int64_t now) {
  const double max_lag =
      slot_ns_ * static_cast<double>(conns_.size()) * static_cast<double>(cfg_.pipeline);
  if (static_cast<double>(now) - next_slot_ > max_lag) {
    next_slot_ = static_cast<double>(now) - max_lag;
  }
  while (next_slot_ <= static_cast<double>(now)) {
    Conn& c = conns_[slot_++ % conns_.size()];
    next_slot_ += slot_ns_;
    if (c.fd >= 0 && c.credits < cfg_.pipeline) {
      ++c.credits;
      QueueAndSend(c, now);
    }
  }
}

// Waits for events until the next deadline (end of run or next send slot).
int Worker::Wait(epoll_event* evs, int64_t now) {
  int64_t deadline = cfg_.end_ns;
  if (cfg_.rate > 0) {
    deadline = std::min(deadline, static_cast<int64_t>(next_slot_) + 1);
  }
  int64_t left = std::max<int64_t>(0, deadline - now);
  if (have_pwait2_) {
    timespec ts{static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
    int n = epoll_pwait2(ep_, evs, kMaxEvents, &ts, nullptr);
    if (n >= 0 || errno != ENOSYS) return n;
    have_pwait2_ = false;  // old kernel: fall back to ms timeouts
  }
  return epoll_wait(ep_, evs, kMaxEvents, static_cast<int>((left + 999999) / 1000000));
}

void Worker::Run() {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) {
    std::perror("gev-load: epoll_create1");
    ++res_->errors;
    for (int fd : cfg_.fds) close(fd);
    for (SSL* ssl : cfg_.tls) SSL_free(ssl);
    return;
  }
  conns_.resize(cfg_.fds.size());
  for (size_t i = 0; i < conns_.size(); ++i) {
    Conn& c = conns_[i];
    c.fd = cfg_.fds[i];
    if (!cfg_.tls.empty()) c.ssl = cfg_.tls[i];
    c.id = cfg_.first_conn_id + i;
    c.send_ns.assign(cfg_.pipeline, 0);
    if (!cfg_.sessions.empty()) {
      c.ws = std::make_unique<WsConn>(cfg_.sessions[i], cfg_.opcode, cfg_.size, cfg_.deflate_level);
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) != 0) Fail(c, "epoll_ctl");
    if (c.ws && !c.ws->ok()) Fail(c, "zlib init failed");
  }
  if (cfg_.rate > 0) {
    // Smoother than the default 50us slack, yet coarse enough that at high
    // rates one wakeup releases a few slots (each wakeup costs client CPU).
    prctl(PR_SET_TIMERSLACK, kTimerSlackNs);
    slot_ns_ = 1e9 / cfg_.rate;
    next_slot_ = static_cast<double>(cfg_.start_ns);
  } else {
    int64_t now = NowNs();
    for (Conn& c : conns_) QueueAndSend(c, now);
  }

  epoll_event evs[kMaxEvents];
  for (int64_t now = NowNs(); now < cfg_.end_ns; now = NowNs()) {
    if (cfg_.rate > 0) ReleaseSlots(now);
    int n = Wait(evs, now);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("gev-load: epoll_wait");
      ++res_->errors;
      break;
    }
    for (int i = 0; i < n; ++i) {
      Conn& c = conns_[evs[i].data.u32];
      if (c.fd >= 0 && (evs[i].events & EPOLLOUT)) Flush(c);
      if (c.fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
        OnReadable(c);
      }
    }
  }
  for (Conn& c : conns_) Close(c);
  close(ep_);
}

}  // namespace

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void RunWorker(const WorkerConfig& cfg, WorkerResult* out) {
  Worker(cfg, out).Run();
}

}  // namespace gev::load
