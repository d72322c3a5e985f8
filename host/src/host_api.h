// The host side of the module ABI: the gev_host_api table and the per-module handle
// (gev_host*) behind it. gev_conn* is a gev::Connection*, gev_loop* a gev::EventLoop*,
// gev_writer* a gev::WriteBatch*: the handles are opaque to modules only.
#pragma once

#include <gev/connection.h>
#include <gev/event_loop.h>
#include <gev/sdk/gev_host.h>

#include <array>
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gev::host {

class Pipeline;
class LoadedModule;

// Host state per connection, kept in the connection's protocol_state slot.
struct ConnSlot {
  std::shared_ptr<Pipeline> pipeline;  // the generation serving it (until it closes or migrates)
  void* protocol_state = nullptr;      // what the protocol's conn_open returned
  void* handler_context = nullptr;     // conn_get_context / conn_set_context
  struct OwnedTimer {
    gev_timer_id id;
    const LoadedModule* by;  // the module that started it (a migration cancels the old handler's)
  };
  std::vector<OwnedTimer> timers;  // owned timers, cancelled at close
};

struct Metric {
  std::string name;
  std::string help;
  bool gauge = false;
  std::atomic<int64_t> value{0};
};

// Open connections by id, for send_to from any thread. Sharded so connects on different
// loops rarely meet on one mutex.
class ConnRegistry {
 public:
  void add(Connection& c);
  void remove(const Connection& c);
  std::shared_ptr<Connection> find(uint64_t id);

 private:
  struct Shard {
    std::mutex mu;
    std::unordered_map<uint64_t, std::weak_ptr<Connection>> conns;
  };
  Shard& shard(uint64_t id) { return shards_[id % shards_.size()]; }
  std::array<Shard, 16> shards_;
};

// The object behind a module's gev_host* handle.
struct ModuleHost {
  std::string module_name;
  gev_host_api api{};               // this module's copy of the table (api.host == this)
  std::vector<EventLoop*> loops;    // the host's worker loops (set before create)
  std::deque<Metric> metrics;       // stable addresses; defined only during create
  std::atomic<bool> frozen{false};  // set after create: no more metric_define
  ConnRegistry conns;               // connections this module serves as their handler
  std::atomic<int64_t> open_conns{0};  // connections it serves (as protocol or handler)
};

// While alive on this thread: the last warning or error a module logs, so that a call
// that then fails (create, loop_init, an export) is reported with the module's own
// reason, not only a status code. One per call: loops run theirs concurrently.
class ProblemCapture {
 public:
  ProblemCapture() : saved_(current_) { current_ = &text_; }
  ~ProblemCapture() { current_ = saved_; }
  ProblemCapture(const ProblemCapture&) = delete;
  ProblemCapture& operator=(const ProblemCapture&) = delete;
  // ": <reason>", or "" if the module logged none.
  std::string suffix() const { return text_.empty() ? std::string() : ": " + text_; }
  static void note(std::string_view msg) {
    if (current_) current_->assign(msg);
  }

 private:
  std::string text_;
  std::string* saved_;
  static inline thread_local std::string* current_ = nullptr;
};

// Fills `api` for `host` (sizes, versions, every function).
void init_host_api(ModuleHost& host);

inline Connection* conn_of(gev_conn* c) {
  return reinterpret_cast<Connection*>(c);
}
inline const Connection* conn_of(const gev_conn* c) {
  return reinterpret_cast<const Connection*>(c);
}
inline gev_conn* handle_of(Connection& c) {
  return reinterpret_cast<gev_conn*>(&c);
}
inline EventLoop* loop_of(gev_loop* l) {
  return reinterpret_cast<EventLoop*>(l);
}
inline gev_loop* handle_of(EventLoop& l) {
  return reinterpret_cast<gev_loop*>(&l);
}
// The core's view of an ABI frame: the same bytes, no copy.
inline Frame frame_of(const gev_frame& f) {
  return Frame{{f.data.ptr, static_cast<size_t>(f.data.len)},
               f.type,
               {f.meta.ptr, static_cast<size_t>(f.meta.len)}};
}
inline ConnSlot* slot_of(const Connection& c) {
  return static_cast<ConnSlot*>(c.protocol_state());
}

}  // namespace gev::host
