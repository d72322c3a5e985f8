// The gev_host_api functions. Each checks what a module could get wrong (a closed
// connection, an unknown id) and answers with a status instead of crashing the host.
#include "host_api.h"

#include <gev/log.h>

#include "lifecycle.h"
#include "loaded_module.h"
#include "outbound.h"
#include "pipeline.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace gev::host {

namespace {

// A module's task or timer callback: runs fn(arg) in the scope of the module that
// started it, holding that module (so it is not unloaded first) unless it is per-loop
// state (see ModuleScope), which runs as setup and is cancelled after loop_fini. Once
// the module has finished on this loop (loop_fini ran), it no longer runs.
struct ModuleTask {
  gev_task_fn fn;
  void* arg;
  LoadedModule* module;
  std::shared_ptr<LoadedModule> hold;
  size_t loop_index;
  std::shared_ptr<std::atomic<TimerId>> per_loop_id;  // per-loop one-shot: forget it once fired
  void operator()() const {
    if (module && module->finished_on(loop_index)) return;
    ModuleScope scope(module, hold == nullptr);
    if (per_loop_id) module->forget_loop_timer(loop_index, per_loop_id->load());
    fn(arg);
  }
};

// Which module started a task or timer, and a reference to it: the one whose callback
// runs now, or else (a module's own thread) the one whose code `fn` is. Found but with
// no reference: it is retiring, and may start nothing new.
struct Starter {
  LoadedModule* module = nullptr;
  std::shared_ptr<LoadedModule> hold;
  bool retiring() const { return module && !hold; }
};
Starter starter_of(gev_task_fn fn) {
  if (LoadedModule* m = ModuleScope::module()) return {m, ModuleScope::hold()};
  ModuleLifecycle* lifecycle = ModuleLifecycle::instance();
  if (!lifecycle) return {};
  auto [m, hold] = lifecycle->owner_of(reinterpret_cast<const void*>(fn));
  return {m, std::move(hold)};
}

ModuleHost& self(gev_host* h) {
  return *reinterpret_cast<ModuleHost*>(h);
}

void api_log(gev_host*, int32_t level, const char* module, gev_bytes msg) {
  LogLevel lv = static_cast<LogLevel>(std::clamp<int32_t>(level, 0, 4));
  GEV_LOG(lv, "[%s] %.*s", module ? module : "?", static_cast<int>(msg.len),
          reinterpret_cast<const char*>(msg.ptr));
  if (lv >= LogLevel::kWarn)
    ProblemCapture::note({reinterpret_cast<const char*>(msg.ptr), static_cast<size_t>(msg.len)});
}

uint64_t api_conn_id(const gev_conn* c) {
  return conn_of(c)->id();
}
gev_loop* api_conn_loop(const gev_conn* c) {
  return handle_of(conn_of(c)->loop());
}

uint32_t copy_out(const std::string& s, char* buf, uint32_t cap) {
  if (cap > 0) {
    size_t n = std::min<size_t>(s.size(), cap - 1);
    std::memcpy(buf, s.data(), n);
    buf[n] = '\0';
  }
  return static_cast<uint32_t>(s.size());
}
uint32_t api_peer(const gev_conn* c, char* buf, uint32_t cap) {
  return copy_out(conn_of(c)->peer_address().to_string(), buf, cap);
}
uint32_t api_local(const gev_conn* c, char* buf, uint32_t cap) {
  return copy_out(conn_of(c)->local_address().to_string(), buf, cap);
}

gev_status api_conn_tls(const gev_conn* c, gev_tls_info* out) {
  if (!out || out->size < offsetof(gev_tls_info, flags) + sizeof(out->flags))
    return GEV_ERR_INVALID;
  const TlsInfo* t = conn_of(c)->tls();
  if (!t) return GEV_ERR_UNSUPPORTED;
  auto view = [](std::string_view v) {
    return gev_bytes{reinterpret_cast<const uint8_t*>(v.data()), v.size()};
  };
  gev_tls_info info{};
  info.size = out->size;
  info.flags = (t->resumed ? GEV_TLS_RESUMED : 0u) | (t->peer_verified ? GEV_TLS_PEER_VERIFIED : 0u);
  info.version = view(t->version);
  info.cipher = view(t->cipher);
  info.alpn = view(t->alpn);
  info.server_name = view(t->server_name);
  info.peer_subject = view(t->peer_subject);
  info.peer_san = view(t->peer_san);
  std::memcpy(info.peer_sha256, t->peer_sha256.data(), sizeof info.peer_sha256);
  std::memcpy(out, &info, std::min<size_t>(out->size, sizeof info));  // no further than its size
  return GEV_OK;
}

void* api_get_context(const gev_conn* c) {
  ConnSlot* s = slot_of(*conn_of(c));
  return s ? s->handler_context : nullptr;
}
void api_set_context(gev_conn* c, void* p) {
  if (ConnSlot* s = slot_of(*conn_of(c))) s->handler_context = p;
}

uint64_t api_input_size(const gev_conn* c) {
  return conn_of(c)->read_buffer_size();
}
uint64_t api_output_size(const gev_conn* c) {
  return conn_of(c)->write_buffer_size();
}

// send and send_to once the connection is found (msg checked by the caller).
gev_status send_frame(Connection& conn, const gev_frame& msg) noexcept {
  try {
    conn.send(frame_of(msg));
  } catch (...) {
    return GEV_ERR_NOMEM;
  }
  return GEV_OK;
}

gev_status api_send(gev_conn* c, const gev_frame* msg) noexcept {
  Connection* conn = conn_of(c);
  if (!msg || msg->size < sizeof(gev_frame)) return GEV_ERR_INVALID;
  if (!conn->connected()) return GEV_ERR_CLOSED;
  return send_frame(*conn, *msg);
}

// A single piece of output larger than this is refused (GEV_ERR_NOMEM / nullptr):
// the connection's own output cap is far below it anyway.
constexpr uint64_t kMaxPiece = uint64_t{1} << 31;

gev_status api_writer_append(gev_writer* w, gev_bytes b) noexcept {
  if (b.len && !b.ptr) return GEV_ERR_INVALID;
  if (b.len > kMaxPiece) return GEV_ERR_NOMEM;
  try {
    reinterpret_cast<WriteBatch*>(w)->append(b.ptr, static_cast<size_t>(b.len));
  } catch (...) {  // bad_alloc must not unwind through the module's C frames
    return GEV_ERR_NOMEM;
  }
  return GEV_OK;
}
uint8_t* api_writer_reserve(gev_writer* w, uint64_t n) noexcept {
  if (n > kMaxPiece) return nullptr;
  try {
    return reinterpret_cast<WriteBatch*>(w)->alloc(static_cast<size_t>(n));
  } catch (...) {
    return nullptr;
  }
}

void api_pause(gev_conn* c) {
  conn_of(c)->pause_reading();
}
void api_resume(gev_conn* c) {
  conn_of(c)->resume_reading();
}
void api_close(gev_conn* c, int32_t abort) {
  if (abort)
    conn_of(c)->abort();
  else
    conn_of(c)->close();
}
void api_shutdown_write(gev_conn* c) {
  conn_of(c)->shutdown_write();
}

gev_timer_id api_timer_start(gev_loop* l, gev_conn* owner, uint64_t delay_ns, uint64_t interval_ns,
                             gev_task_fn fn, void* arg) {
  if (!l || !fn) return 0;
  // Nanoseconds past ~146 years would overflow the loop's clock arithmetic.
  constexpr uint64_t kMaxNs = uint64_t{INT64_MAX} / 4;
  if (delay_ns > kMaxNs || interval_ns > kMaxNs) return 0;
  EventLoop* loop = loop_of(l);
  // An owned timer must run on its connection's loop, where close cancels it.
  if (owner && &conn_of(owner)->loop() != loop) return 0;
  Starter by = starter_of(fn);
  if (by.retiring()) return 0;  // loop_fini, destroy: nothing new may start
  LoadedModule* m = by.module;
  bool setup = ModuleScope::module() ? ModuleScope::setup() : false;
  bool per_loop = !owner && m && (interval_ns != 0 || setup);
  ModuleTask task{fn, arg, m, per_loop ? nullptr : std::move(by.hold), loop->index(), nullptr};
  if (per_loop && interval_ns == 0) task.per_loop_id = std::make_shared<std::atomic<TimerId>>(0);
  TimerId id;
  if (interval_ns == 0) {
    id = loop->run_after(std::chrono::nanoseconds(delay_ns), task);
  } else {
    id = loop->run_every(std::chrono::nanoseconds(delay_ns), std::chrono::nanoseconds(interval_ns),
                         task);
  }
  if (owner) {
    if (ConnSlot* s = slot_of(*conn_of(owner))) s->timers.push_back({id, m});
  } else if (per_loop) {
    m->add_loop_timer(loop->index(), id);
    // Read by the loop's copy when it fires; set before (or, from another thread, at
    // worst after: then only the forgetting is missed, and fini cancels a fired id).
    if (task.per_loop_id) task.per_loop_id->store(id);
  }
  return id;
}
void api_timer_cancel(gev_loop* l, gev_timer_id id) {
  if (!l || !id) return;
  EventLoop* loop = loop_of(l);
  if (LoadedModule* m = ModuleScope::module()) m->forget_loop_timer(loop->index(), id);
  loop->cancel(id);
}

uint32_t api_loop_count(gev_host* h) {
  return static_cast<uint32_t>(self(h).loops.size());
}
gev_loop* api_loop_at(gev_host* h, uint32_t i) {
  auto& loops = self(h).loops;
  return i < loops.size() ? handle_of(*loops[i]) : nullptr;
}
uint32_t api_loop_index(const gev_loop* l) {
  return static_cast<uint32_t>(reinterpret_cast<const EventLoop*>(l)->index());
}
gev_status api_post(gev_loop* l, gev_task_fn fn, void* arg) {
  if (!l || !fn) return GEV_ERR_INVALID;
  Starter by = starter_of(fn);
  if (by.retiring()) return GEV_ERR_CLOSED;  // loop_fini, destroy: nothing new may start
  EventLoop* loop = loop_of(l);
  loop->queue_in_loop(ModuleTask{fn, arg, by.module, std::move(by.hold), loop->index(), nullptr});
  return GEV_OK;
}
void api_for_each_conn(gev_host* h, gev_loop* l, void (*fn)(gev_conn*, void*), void* arg) {
  const void* me = &self(h);
  loop_of(l)->for_each_connection([&](Connection& c) {
    ConnSlot* s = slot_of(c);
    if (s && &s->pipeline->handler_module()->host() == me && c.connected()) fn(handle_of(c), arg);
  });
}

gev_metric* api_metric_define(gev_host* h, const char* name, const char* help, int32_t gauge) {
  // [create only]: /metrics iterates the list from the admin loop afterwards.
  if (self(h).frozen.load(std::memory_order_acquire)) return nullptr;
  Metric& m = self(h).metrics.emplace_back();
  m.name = name ? name : "unnamed";
  m.help = help ? help : "";
  m.gauge = gauge != 0;
  return reinterpret_cast<gev_metric*>(&m);
}
void api_metric_add(gev_metric* m, int64_t delta) {
  if (m) reinterpret_cast<Metric*>(m)->value.fetch_add(delta, std::memory_order_relaxed);
}

gev_status api_send_to(gev_host* h, uint64_t id, const gev_frame* msg) noexcept {
  if (!h || !msg || msg->size < sizeof(gev_frame)) return GEV_ERR_INVALID;
  std::shared_ptr<Connection> conn = self(h).conns.find(id);
  if (!conn) return GEV_ERR_CLOSED;
  return send_frame(*conn, *msg);
}

// ---- ABI 1.4: outbound connections ----
gev_status api_dial(gev_host* h, gev_loop* l, const gev_dial_options* o, uint64_t* id) noexcept {
  if (!h || !l || !o || o->size < sizeof(gev_dial_options) || !o->address.ptr) return GEV_ERR_INVALID;
  Outbound* out = Outbound::instance();
  if (!out) return GEV_ERR_UNSUPPORTED;
  if (!loop_of(l)->in_loop_thread()) return GEV_ERR_INVALID;  // [loop]
  try {
    return out->dial(*loop_of(l), *o, id);
  } catch (const std::exception& e) {
    GEV_WARN("[%s] dial: %s", self(h).module_name.c_str(), e.what());
    return GEV_ERR_NOMEM;
  }
}
void api_dial_cancel(gev_host*, uint64_t id) noexcept {
  if (Outbound* out = Outbound::instance()) out->cancel(id);
}
int32_t api_conn_outbound(const gev_conn* c) {
  return c && conn_of(c)->outbound() ? 1 : 0;
}
gev_status api_conn_link(gev_conn* a, gev_conn* b, uint64_t high, uint64_t low) noexcept {
  if (!a || !b) return GEV_ERR_INVALID;
  Connection& x = *conn_of(a);
  Connection& y = *conn_of(b);
  if (x.datagram() || y.datagram()) return GEV_ERR_UNSUPPORTED;
  if (a == b) return GEV_ERR_INVALID;
  if (&x.loop() != &y.loop()) return GEV_ERR_INVALID;
  if (!x.connected() || !y.connected()) return GEV_ERR_CLOSED;
  x.couple(y, static_cast<size_t>(high), static_cast<size_t>(low));
  return GEV_OK;
}
void api_conn_unlink(gev_conn* c) {
  if (c) conn_of(c)->decouple();
}
int32_t api_conn_datagram(const gev_conn* c) {
  return c && conn_of(c)->datagram() ? 1 : 0;
}
gev_status api_conn_stream_op(gev_conn* c, int32_t op) {
  if (!c) return GEV_ERR_INVALID;
  Connection& conn = *conn_of(c);
  if (op < GEV_STREAM_PAUSE_READING || op > GEV_STREAM_SHUTDOWN_WRITE) return GEV_ERR_INVALID;
  if (conn.datagram()) return GEV_ERR_UNSUPPORTED;
  if (!conn.connected()) return GEV_ERR_CLOSED;
  if (op == GEV_STREAM_PAUSE_READING)
    conn.pause_reading();
  else if (op == GEV_STREAM_RESUME_READING)
    conn.resume_reading();
  else
    conn.shutdown_write();
  return GEV_OK;
}
uint32_t api_conn_protocol(const gev_conn* c, char* buf, uint32_t cap) {
  ConnSlot* slot = c ? slot_of(*conn_of(c)) : nullptr;
  const std::string& name = slot ? slot->pipeline->protocol_module()->name() : std::string();
  if (cap > 0) {
    size_t n = std::min<size_t>(name.size(), cap - 1);
    std::memcpy(buf, name.data(), n);
    buf[n] = '\0';
  }
  return static_cast<uint32_t>(name.size());
}

}  // namespace

void ConnRegistry::add(Connection& c) {
  Shard& s = shard(c.id());
  std::lock_guard lock(s.mu);
  s.conns.emplace(c.id(), c.weak_from_this());
}

void ConnRegistry::remove(const Connection& c) {
  Shard& s = shard(c.id());
  std::lock_guard lock(s.mu);
  s.conns.erase(c.id());
}

std::shared_ptr<Connection> ConnRegistry::find(uint64_t id) {
  Shard& s = shard(id);
  std::lock_guard lock(s.mu);
  auto it = s.conns.find(id);
  return it == s.conns.end() ? nullptr : it->second.lock();
}

void init_host_api(ModuleHost& h) {
  gev_host_api& a = h.api;
  a = {};
  a.size = sizeof(gev_host_api);
  a.abi_major = GEV_ABI_MAJOR;
  a.abi_minor = GEV_ABI_MINOR;
  a.host = reinterpret_cast<gev_host*>(&h);
  a.log = api_log;
  a.conn_id = api_conn_id;
  a.conn_loop = api_conn_loop;
  a.conn_peer_address = api_peer;
  a.conn_local_address = api_local;
  a.conn_get_context = api_get_context;
  a.conn_set_context = api_set_context;
  a.conn_input_size = api_input_size;
  a.send = api_send;
  a.conn_output_size = api_output_size;
  a.writer_append = api_writer_append;
  a.writer_reserve = api_writer_reserve;
  a.conn_pause_reading = api_pause;
  a.conn_resume_reading = api_resume;
  a.conn_close = api_close;
  a.conn_shutdown_write = api_shutdown_write;
  a.timer_start = api_timer_start;
  a.timer_cancel = api_timer_cancel;
  a.loop_count = api_loop_count;
  a.loop_at = api_loop_at;
  a.loop_index = api_loop_index;
  a.post = api_post;
  a.for_each_conn = api_for_each_conn;
  a.metric_define = api_metric_define;
  a.metric_add = api_metric_add;
  a.send_to = api_send_to;
  a.conn_tls = api_conn_tls;
  a.dial = api_dial;
  a.dial_cancel = api_dial_cancel;
  a.conn_outbound = api_conn_outbound;
  a.conn_link = api_conn_link;
  a.conn_unlink = api_conn_unlink;
  a.conn_protocol = api_conn_protocol;
  a.conn_datagram = api_conn_datagram;
  a.conn_stream_op = api_conn_stream_op;
}

}  // namespace gev::host
