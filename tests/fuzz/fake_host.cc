// FakeHost: the gev_host_api table of the fuzz harness (see fake_host.h). Every callback
// checks its handles: a module that uses a connection after its on_close, or a handle
// the host never gave out, aborts, so the fuzzer reports it.
#include "fake_host.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gev::fuzz {

FakeHost* FakeHost::current = nullptr;

namespace {

[[noreturn]] void violation(const char* what) {
  std::fprintf(stderr, "fuzz harness: module broke the host contract: %s\n", what);
  std::abort();
}

// Reads every byte of a view the module lent us, so ASan sees a bad one.
void touch(gev_bytes b) {
  if (b.len && !b.ptr) violation("a view with a length and no pointer");
  volatile uint8_t sink = 0;
  for (uint64_t i = 0; i < b.len; ++i) sink = sink ^ b.ptr[i];
  (void)sink;
}

// GEV_FUZZ_TRACE=1 prints what the module encodes: for looking at one input by hand
// (`GEV_FUZZ_TRACE=1 build/fuzz/fuzz_websocket some-seed`), never while fuzzing.
bool trace() {
  static const bool on = std::getenv("GEV_FUZZ_TRACE") != nullptr;
  return on;
}

}  // namespace

gev_status FakeWriter::append(gev_bytes b) {
  settle();
  if (b.len && !b.ptr) return GEV_ERR_INVALID;
  out_.insert(out_.end(), b.ptr, b.ptr + b.len);
  return GEV_OK;
}

uint8_t* FakeWriter::reserve(uint64_t n) {
  settle();
  if (n > (uint64_t{1} << 31)) return nullptr;  // as host_api.cc's kMaxPiece
  piece_.reset(new uint8_t[n ? n : 1]);
  piece_len_ = n;
  return piece_.get();
}

void FakeWriter::settle() {
  if (!piece_) return;
  out_.insert(out_.end(), piece_.get(), piece_.get() + piece_len_);
  piece_.reset();
  piece_len_ = 0;
}

// The table's callbacks. Each finds the host through FakeHost::current.
struct Api {
  static FakeHost& h() { return *FakeHost::current; }
  static FakeConn& conn(const gev_conn* c) {
    FakeHost& host = h();
    if (c != host.conn()) violation("a gev_conn* the host never gave out");
    if (host.conn_.gone) violation("a gev_conn* used after its connection's on_close");
    return host.conn_;
  }
  static void loop(const gev_loop* l) {
    if (l != h().loop()) violation("a gev_loop* the host never gave out");
  }

  static void log(gev_host*, int32_t, const char* module, gev_bytes message) {
    if (module) (void)std::strlen(module);
    touch(message);
  }
  static uint64_t conn_id(const gev_conn* c) { return conn(c).id; }
  static gev_loop* conn_loop(const gev_conn* c) {
    conn(c);
    return h().loop();
  }
  static uint32_t address(const gev_conn* c, char* buf, uint32_t cap) {
    conn(c);
    static const char kAddr[] = "127.0.0.1:40000";
    if (cap > 0) std::snprintf(buf, cap, "%s", kAddr);
    return sizeof kAddr - 1;
  }
  static void* get_context(const gev_conn* c) { return conn(c).context; }
  static void set_context(gev_conn* c, void* p) { conn(c).context = p; }
  static uint64_t input_size(const gev_conn* c) { return conn(c).input_size; }
  static gev_status send(gev_conn* c, const gev_frame* msg) { return h().send(c, msg); }
  static uint64_t output_size(const gev_conn* c) {
    conn(c);
    return 0;  // everything "left" at once
  }
  static gev_status writer_append(gev_writer* w, gev_bytes b) {
    return reinterpret_cast<FakeWriter*>(w)->append(b);
  }
  static uint8_t* writer_reserve(gev_writer* w, uint64_t n) {
    return reinterpret_cast<FakeWriter*>(w)->reserve(n);
  }
  static void pause(gev_conn* c) { conn(c).paused = true; }
  static void resume(gev_conn* c) { conn(c).paused = false; }
  static void close(gev_conn* c, int32_t abort) {
    FakeConn& fc = conn(c);
    if (abort)
      fc.state = ConnState::kClosed;
    else if (fc.state == ConnState::kConnected)
      fc.state = ConnState::kClosing;
  }
  static void shutdown_write(gev_conn* c) { conn(c).write_shut = true; }
  // ABI 1.5: a stream connection, always (the fuzzed protocols are stream protocols).
  static int32_t datagram(const gev_conn*) { return 0; }
  static gev_status stream_op(gev_conn* c, int32_t op) {
    if (op == GEV_STREAM_PAUSE_READING)
      pause(c);
    else if (op == GEV_STREAM_RESUME_READING)
      resume(c);
    else if (op == GEV_STREAM_SHUTDOWN_WRITE)
      shutdown_write(c);
    else
      return GEV_ERR_INVALID;
    return GEV_OK;
  }
  static gev_timer_id timer_start(gev_loop* l, gev_conn* owner, uint64_t delay_ns,
                                  uint64_t interval_ns, gev_task_fn fn, void* arg) {
    if (!l || !fn) return 0;
    loop(l);
    if (owner) conn(owner);
    constexpr uint64_t kMaxNs = uint64_t{INT64_MAX} / 4;
    if (delay_ns > kMaxNs || interval_ns > kMaxNs) return 0;
    FakeHost& host = h();
    gev_timer_id id = host.next_timer_++;
    host.timers.push_back({id, owner != nullptr, interval_ns, fn, arg, true});
    return id;
  }
  static void timer_cancel(gev_loop* l, gev_timer_id id) {
    if (!l || !id) return;
    loop(l);
    for (Timer& t : h().timers)
      if (t.id == id) t.live = false;
  }
  static uint32_t loop_count(gev_host*) { return 1; }
  static gev_loop* loop_at(gev_host*, uint32_t i) { return i == 0 ? h().loop() : nullptr; }
  static uint32_t loop_index(const gev_loop* l) {
    loop(l);
    return 0;
  }
  static gev_status post(gev_loop* l, gev_task_fn fn, void* arg) {
    if (!l || !fn) return GEV_ERR_INVALID;
    loop(l);
    h().posted.push_back({fn, arg});
    return GEV_OK;
  }
  static void for_each_conn(gev_host*, gev_loop* l, void (*fn)(gev_conn*, void*), void* arg) {
    loop(l);
    FakeHost& host = h();
    if (host.conn_.state == ConnState::kConnected) fn(host.conn(), arg);
  }
  static gev_metric* metric_define(gev_host*, const char* name, const char*, int32_t) {
    static int metric_tag;
    if (!h().creating_) return nullptr;  // [create only], as the host
    if (name) (void)std::strlen(name);
    return reinterpret_cast<gev_metric*>(&metric_tag);
  }
  static void metric_add(gev_metric*, int64_t) {}
  static gev_status send_to(gev_host*, uint64_t id, const gev_frame* msg) {
    FakeHost& host = h();
    if (!msg || msg->size < sizeof(gev_frame)) return GEV_ERR_INVALID;
    if (id != host.conn_.id || host.conn_.state != ConnState::kConnected) return GEV_ERR_CLOSED;
    return host.send(host.conn(), msg);
  }
};

FakeHost::FakeHost() = default;

void FakeHost::fill_api(gev_host_api& a) {
  a.size = sizeof a;
  a.abi_major = GEV_ABI_MAJOR;
  a.abi_minor = GEV_ABI_MINOR;
  a.host = nullptr;
  a.log = Api::log;
  a.conn_id = Api::conn_id;
  a.conn_loop = Api::conn_loop;
  a.conn_peer_address = Api::address;
  a.conn_local_address = Api::address;
  a.conn_get_context = Api::get_context;
  a.conn_set_context = Api::set_context;
  a.conn_input_size = Api::input_size;
  a.send = Api::send;
  a.conn_output_size = Api::output_size;
  a.writer_append = Api::writer_append;
  a.writer_reserve = Api::writer_reserve;
  a.conn_pause_reading = Api::pause;
  a.conn_resume_reading = Api::resume;
  a.conn_close = Api::close;
  a.conn_shutdown_write = Api::shutdown_write;
  a.timer_start = Api::timer_start;
  a.timer_cancel = Api::timer_cancel;
  a.loop_count = Api::loop_count;
  a.loop_at = Api::loop_at;
  a.loop_index = Api::loop_index;
  a.post = Api::post;
  a.for_each_conn = Api::for_each_conn;
  a.metric_define = Api::metric_define;
  a.metric_add = Api::metric_add;
  a.send_to = Api::send_to;
  a.conn_datagram = Api::datagram;
  a.conn_stream_op = Api::stream_op;
}

const gev_host_api* FakeHost::api() {
  static const gev_host_api table = [] {
    gev_host_api a{};
    fill_api(a);
    return a;
  }();
  return &table;
}

void FakeHost::encode(const gev_frame& msg) {
  if (in_encode_) violation("encode re-entered (send from inside encode?)");
  touch(msg.data);
  touch(msg.meta);
  FakeWriter w;
  in_encode_ = true;
  gev_status st = protocol_->encode(module_state_, conn(), conn_.protocol_state, &msg,
                                    reinterpret_cast<gev_writer*>(&w));
  in_encode_ = false;
  w.settle();
  last_encoded = w.bytes();
  if (trace()) {
    std::fprintf(stderr, "encode type %u, status %d: ", msg.type, st);
    for (uint8_t b : last_encoded) std::fputc(b >= 0x20 && b < 0x7f ? b : '.', stderr);
    std::fputc('\n', stderr);
  }
  if (st != GEV_OK) {
    conn_.state = ConnState::kClosed;  // Pipeline::encode aborts
    last_encoded.clear();
  }
  transcript.insert(transcript.end(), last_encoded.begin(), last_encoded.end());
}

gev_status FakeHost::send(gev_conn* c, const gev_frame* msg) {
  Api::conn(c);
  if (!msg || msg->size < sizeof(gev_frame)) return GEV_ERR_INVALID;
  if (conn_.state != ConnState::kConnected) return GEV_ERR_CLOSED;
  // Connection::send_in_loop drops, silently, what comes after shutdown_write.
  if (conn_.write_shut) return GEV_OK;
  encode(*msg);
  return GEV_OK;
}

void FakeHost::fire_timers() {
  // Index loop: callbacks may start timers (and grow the vector) while we walk it.
  size_t n = timers.size();
  for (size_t i = 0; i < n; ++i) {
    Timer t = timers[i];
    // A closing connection finishes as soon as the read that closed it unwinds (its
    // output is all sent here), before any timer of its could fire.
    if (!t.live || (t.owned && conn_.state != ConnState::kConnected)) continue;
    if (t.interval_ns == 0) timers[i].live = false;
    t.fn(t.arg);
  }
}

void FakeHost::run_posted() {
  for (int round = 0; round < 8 && !posted.empty(); ++round) {
    std::vector<Task> batch;
    batch.swap(posted);
    for (const Task& t : batch) t.fn(t.arg);
  }
}

void FakeHost::cancel_owned_timers() {
  for (Timer& t : timers)
    if (t.owned) t.live = false;
}

void FakeHost::drop_loop_work() {
  timers.clear();
  posted.clear();
}

}  // namespace gev::fuzz
