// Pipeline: the per-message path across the C boundary. A module's error costs only its
// connection: decode errors and failing on_message/encode close it with a log line.
#include "pipeline.h"

#include <gev/connection.h>
#include <gev/log.h>
#include <gev/write_batch.h>

#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include "host_api.h"

namespace gev::host {

namespace {
gev_bytes view(std::span<const uint8_t> s) {
  return {s.data(), s.size()};
}
std::span<const uint8_t> span(gev_bytes b) {
  return {b.ptr, static_cast<size_t>(b.len)};
}
}  // namespace

// A table member, or null/0 when the module's table is too short to have it (a module
// built against an older minor).
#define GEV_MEMBER(table, member)                                                          \
  ((table)->size >= offsetof(std::remove_cvref_t<decltype(*(table))>, member) +            \
                        sizeof((table)->member)                                            \
       ? (table)->member                                                                   \
       : decltype((table)->member){})

Pipeline::Pipeline(std::shared_ptr<LoadedModule> protocol, std::shared_ptr<LoadedModule> handler)
    : protocol_module_(std::move(protocol)),
      handler_module_(std::move(handler)),
      protocol_(protocol_module_->descriptor().protocol),
      handler_(handler_module_->descriptor().handler),
      protocol_state_(protocol_module_->state()),
      handler_state_(handler_module_->state()) {
  // A module built before ABI 1.1 has a shorter table: never read past its size.
  after_message_ = GEV_MEMBER(protocol_, after_message);
  conn_stopping_ = GEV_MEMBER(protocol_, conn_stopping);
  on_stopping_ = GEV_MEMBER(handler_, on_stopping);
  handler_flags_ = GEV_MEMBER(handler_, flags);
  conn_export_ = GEV_MEMBER(handler_, conn_export);
  conn_import_ = GEV_MEMBER(handler_, conn_import);
  state_export_ = GEV_MEMBER(handler_, state_export);
  state_import_ = GEV_MEMBER(handler_, state_import);
  on_connect_failed_ = GEV_MEMBER(handler_, on_connect_failed);
  on_peer_eof_ = GEV_MEMBER(handler_, on_peer_eof);
}

namespace {
std::string flatten(const WriteBatch& out) {
  std::vector<iovec> iov(WriteBatch::kMaxPieces + 1);
  int n = out.to_iovec(iov.data());
  std::string bytes;
  bytes.reserve(out.bytes());
  for (int i = 0; i < n; ++i) bytes.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  return bytes;
}
gev_bytes bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
}  // namespace

bool Pipeline::can_migrate_to(const Pipeline& next) const {
  return &next != this && next.protocol_module_ == protocol_module_ &&
         next.handler_module_ != handler_module_ &&
         next.handler_module_->name() == handler_module_->name() &&
         (handler_flags_ & GEV_HANDLER_ADOPTS) && (next.handler_flags_ & GEV_HANDLER_ADOPTS);
}

bool Pipeline::hand_over_state(Pipeline& next, std::string* error) {
  WriteBatch out;
  out.reset();
  ProblemCapture problem;
  if (state_export_) {
    gev_status st;
    {
      ModuleScope scope(handler_module_.get(), false);
      st = state_export_(handler_state_, reinterpret_cast<gev_writer*>(&out));
    }
    if (st != GEV_OK) {
      *error = "state_export failed with status " + std::to_string(st) + problem.suffix();
      return false;
    }
  }
  if (!next.state_import_) return true;
  std::string bytes = flatten(out);
  gev_status st;
  {
    ModuleScope scope(next.handler_module_.get(), false);
    st = next.state_import_(next.handler_state_, bytes_of(bytes));
  }
  if (st != GEV_OK) {
    *error = "state_import failed with status " + std::to_string(st) + problem.suffix();
    return false;
  }
  return true;
}

bool Pipeline::migrate(Connection& c, const std::shared_ptr<Pipeline>& next) {
  // Module code may close the connection (a failed send, conn_close): guarded, the close
  // finishes after the move, so the slot stays valid throughout; on_close then runs in
  // the instance holding the connection by then.
  bool moved = false;
  c.run_guarded([&] { moved = migrate_guarded(c, next); });
  return moved;
}

bool Pipeline::migrate_guarded(Connection& c, const std::shared_ptr<Pipeline>& next) {
  ConnSlot* slot = slot_of(c);
  if (!slot || slot->pipeline.get() != this || !c.connected()) return false;
  std::shared_ptr<Pipeline> keep = shared_from_this();  // the slot lets go of us below
  WriteBatch out;
  out.reset();
  if (conn_export_) {
    gev_status st;
    ProblemCapture problem;
    {
      ModuleScope scope(handler_module_.get(), false);
      st = conn_export_(handler_state_, handle_of(c), reinterpret_cast<gev_writer*>(&out));
    }
    if (st != GEV_OK) {
      GEV_WARN("conn %llu: %s (generation %llu) failed to export it (status %d%s): closing it",
               static_cast<unsigned long long>(c.id()), handler_module_->name().c_str(),
               static_cast<unsigned long long>(handler_module_->generation), st,
               problem.suffix().c_str());
      c.close();  // stays with the old instance, whose on_close follows
      return false;
    }
    if (!c.connected()) return false;  // it closed meanwhile: the old instance's on_close
  }
  std::string bytes = flatten(out);
  // The old instance has forgotten it: nothing of its may run for it any more.
  std::erase_if(slot->timers, [&](const ConnSlot::OwnedTimer& t) {
    if (t.by != handler_module_.get()) return false;
    c.loop().cancel(t.id);
    return true;
  });
  handler_module_->host().conns.remove(c);
  count_handler(-1);
  slot->handler_context = nullptr;
  slot->pipeline = next;
  next->handler_module_->host().conns.add(c);
  next->count_handler(+1);
  if (next->conn_import_) {
    gev_status st;
    ProblemCapture problem;
    {
      ModuleScope scope(next->handler_module_.get(), false);
      st = next->conn_import_(next->handler_state_, handle_of(c), bytes_of(bytes));
    }
    if (st != GEV_OK) {
      GEV_WARN("conn %llu: %s (generation %llu) failed to import it (status %d%s): closing it",
               static_cast<unsigned long long>(c.id()), next->handler_module_->name().c_str(),
               static_cast<unsigned long long>(next->handler_module_->generation), st,
               problem.suffix().c_str());
      c.close();  // the new instance holds it now: its on_close follows
      return false;
    }
  }
  return true;
}

bool Pipeline::on_stopping(Connection& c) {
  if (on_stopping_) {
    ModuleScope scope(handler_module_.get(), false);
    on_stopping_(handler_state_, handle_of(c));
  }
  ConnSlot* slot = slot_of(c);
  if (!conn_stopping_ || !slot || !c.connected()) return false;
  ModuleScope scope(protocol_module_.get(), false);
  return conn_stopping_(protocol_state_, handle_of(c), slot->protocol_state) == GEV_OK;
}

void Pipeline::on_connect(Connection& c, void* context) {
  auto* slot = new ConnSlot;
  slot->pipeline = shared_from_this();
  slot->handler_context = context;
  c.set_protocol_state(slot);
  handler_module_->host().conns.add(c);
  count(+1);
  if (protocol_->conn_open) {
    ModuleScope scope(protocol_module_.get(), false);
    slot->protocol_state = protocol_->conn_open(protocol_state_, handle_of(c));
  }
  ModuleScope scope(handler_module_.get(), false);
  if (handler_->on_connect && handler_->on_connect(handler_state_, handle_of(c)) != GEV_OK) {
    GEV_DEBUG("conn %llu: handler %s refused the connection",
              static_cast<unsigned long long>(c.id()), handler_module_->name().c_str());
    c.close();
  }
}

static_assert(static_cast<int>(DialError::kRefused) + 1 == GEV_DIAL_REFUSED &&
              static_cast<int>(DialError::kTimedOut) + 1 == GEV_DIAL_TIMED_OUT &&
              static_cast<int>(DialError::kUnreachable) + 1 == GEV_DIAL_UNREACHABLE &&
              static_cast<int>(DialError::kResolveFailed) + 1 == GEV_DIAL_RESOLVE_FAILED &&
              static_cast<int>(DialError::kCancelled) + 1 == GEV_DIAL_CANCELLED &&
              static_cast<int>(DialError::kOther) + 1 == GEV_DIAL_OTHER);

void Pipeline::on_connect_failed(const DialFailure& f, void* context) {
  if (!on_connect_failed_) return;
  gev_dial_failure g{};
  g.size = sizeof g;
  g.reason = static_cast<int32_t>(f.reason) + 1;  // DialError's order is GEV_DIAL_*'s
  g.error = f.error;
  g.address = {reinterpret_cast<const uint8_t*>(f.address.data()), f.address.size()};
  g.context = context;
  g.dial_id = f.id;
  ModuleScope scope(handler_module_.get(), false);
  on_connect_failed_(handler_state_, &g);
}

bool Pipeline::on_peer_eof(Connection& c) {
  if (!on_peer_eof_) return false;
  ModuleScope scope(handler_module_.get(), false);
  return on_peer_eof_(handler_state_, handle_of(c)) != 0;
}

DecodeResult Pipeline::decode(Connection& c, std::span<const uint8_t> in) {
  ConnSlot* slot = slot_of(c);
  gev_decode_result r{};
  r.size = sizeof r;
  r.frame.size = sizeof(gev_frame);
  ModuleScope scope(protocol_module_.get(), false);
  protocol_->decode(protocol_state_, handle_of(c), slot->protocol_state, view(in), &r);
  switch (r.status) {
    case GEV_DECODE_FRAME:
      return DecodeResult::frame_of(static_cast<size_t>(r.consumed), frame_of(r.frame));
    case GEV_DECODE_NEED_MORE:
      return DecodeResult::need_more(static_cast<size_t>(r.consumed));
    default:
      return DecodeResult::fail(r.error ? r.error : "protocol module reported an error");
  }
}

std::span<const uint8_t> Pipeline::on_message(Connection& c, const Frame& f) {
  gev_frame msg{sizeof(gev_frame), f.type, view(f.data), view(f.meta)};
  gev_frame reply = msg;
  reply.data = {nullptr, 0};
  gev_status st;
  {
    ModuleScope scope(handler_module_.get(), false);
    st = handler_->on_message(handler_state_, handle_of(c), &msg, &reply);
  }
  if (after_message_) {
    ModuleScope scope(protocol_module_.get(), false);
    after_message_(protocol_state_, handle_of(c), slot_of(c)->protocol_state, &msg, &reply, st);
  }
  if (st != GEV_OK) {
    GEV_DEBUG("conn %llu: handler %s failed (status %d), closing",
              static_cast<unsigned long long>(c.id()), handler_module_->name().c_str(), st);
    c.abort();
    return {};
  }
  // The core sends the reply with the request's type and meta (the common case); a
  // different type or meta goes out through send().
  if (reply.data.ptr && (reply.type != f.type || reply.meta.ptr != msg.meta.ptr)) {
    c.send(frame_of(reply));
    return {};
  }
  return span(reply.data);
}

void Pipeline::encode(Connection& c, const Frame& msg, WriteBatch& out) {
  ConnSlot* slot = slot_of(c);
  gev_frame f{sizeof(gev_frame), msg.type, view(msg.data), view(msg.meta)};
  ModuleScope scope(protocol_module_.get(), false);
  if (protocol_->encode(protocol_state_, handle_of(c), slot ? slot->protocol_state : nullptr, &f,
                        reinterpret_cast<gev_writer*>(&out)) != GEV_OK) {
    GEV_DEBUG("conn %llu: protocol %s failed to encode, closing",
              static_cast<unsigned long long>(c.id()), protocol_module_->name().c_str());
    c.abort();
  }
}

void Pipeline::count_handler(int64_t delta) {
  handler_module_->host().open_conns.fetch_add(delta, std::memory_order_relaxed);
}

void Pipeline::count(int64_t delta) {
  count_handler(delta);
  if (protocol_module_ != handler_module_)
    protocol_module_->host().open_conns.fetch_add(delta, std::memory_order_relaxed);
}

void Pipeline::on_close(Connection& c) {
  ConnSlot* slot = slot_of(c);
  handler_module_->host().conns.remove(c);
  count(-1);
  if (handler_->on_close) {
    ModuleScope scope(handler_module_.get(), false);
    handler_->on_close(handler_state_, handle_of(c));
  }
  if (slot) {
    for (const ConnSlot::OwnedTimer& t : slot->timers) c.loop().cancel(t.id);
    if (protocol_->conn_close) {
      ModuleScope scope(protocol_module_.get(), false);
      protocol_->conn_close(protocol_state_, handle_of(c), slot->protocol_state);
    }
    c.set_protocol_state(nullptr);
    delete slot;  // the Switch holds this pipeline until we return
  }
}

void Switch::on_connect(Connection& c) {
  std::shared_ptr<Pipeline> p = current();
  if (!p) {  // the listener was removed (cannot happen: see Server::remove_listener)
    GEV_WARN("conn %llu: its listener has been removed, closing",
             static_cast<unsigned long long>(c.id()));
    c.abort();
    return;
  }
  p->on_connect(c);
}

DecodeResult SlotDispatch::decode(Connection& c, std::span<const uint8_t> in) {
  ConnSlot* slot = slot_of(c);
  if (!slot) return DecodeResult::fail("connection without a pipeline");
  return slot->pipeline->decode(c, in);
}

std::span<const uint8_t> SlotDispatch::on_message(Connection& c, const Frame& f) {
  ConnSlot* slot = slot_of(c);
  return slot ? slot->pipeline->on_message(c, f) : std::span<const uint8_t>{};
}

void SlotDispatch::encode(Connection& c, const Frame& msg, WriteBatch& out) {
  if (ConnSlot* slot = slot_of(c)) slot->pipeline->encode(c, msg, out);
}

bool SlotDispatch::on_stopping(Connection& c) {
  ConnSlot* slot = slot_of(c);
  if (!slot) return false;
  std::shared_ptr<Pipeline> keep = slot->pipeline;
  return keep->on_stopping(c);
}

bool SlotDispatch::on_peer_eof(Connection& c) {
  ConnSlot* slot = slot_of(c);
  return slot && slot->pipeline->on_peer_eof(c);
}

void SlotDispatch::on_close(Connection& c) {
  ConnSlot* slot = slot_of(c);
  if (!slot) return;
  std::shared_ptr<Pipeline> keep = slot->pipeline;  // outlives the slot it is deleted with
  keep->on_close(c);
}

}  // namespace gev::host
