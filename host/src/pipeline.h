// Pipeline: one protocol module and one handler module serving connections, the
// per-message path across the C boundary. Switch: what the core sees for a listener; it
// hands each new connection the listener's current Pipeline, which that connection keeps
// until it closes, so a reload changes what new connections get and nothing else.
#pragma once

#include <gev/protocol.h>

#include <atomic>
#include <memory>
#include <mutex>

#include "loaded_module.h"

namespace gev::host {

class Pipeline : public std::enable_shared_from_this<Pipeline> {
 public:
  Pipeline(std::shared_ptr<LoadedModule> protocol, std::shared_ptr<LoadedModule> handler);

  // context: the handler's conn context before its on_connect (a dial's, ABI 1.4).
  void on_connect(Connection& c, void* context = nullptr);
  // A dial with this pipeline failed (ABI 1.4): the handler's on_connect_failed.
  void on_connect_failed(const DialFailure& f, void* context);
  DecodeResult decode(Connection& c, std::span<const uint8_t> in);
  std::span<const uint8_t> on_message(Connection& c, const Frame& frame);
  void encode(Connection& c, const Frame& msg, WriteBatch& out);
  void on_close(Connection& c);
  // The server is stopping: the handler's and protocol's goodbyes (ABI 1.2). True if the
  // protocol closes the connection itself.
  bool on_stopping(Connection& c);
  // The peer ended its input: true if the handler keeps the connection open (ABI 1.4).
  bool on_peer_eof(Connection& c);

  // Live migration (ABI 1.2). Whether connections of this pipeline may move to `next`:
  // the same protocol instance, and handlers of one name that both declare
  // GEV_HANDLER_ADOPTS.
  bool can_migrate_to(const Pipeline& next) const;
  // Module-wide state: state_export here, state_import in next (reload thread). False,
  // with *error, if either failed: then nothing moves.
  bool hand_over_state(Pipeline& next, std::string* error);
  // Moves `c` (served by this pipeline, on its loop, between messages) to `next`:
  // conn_export here, conn_import there. A failure closes only `c`, with a log line.
  // False if it did not move.
  bool migrate(Connection& c, const std::shared_ptr<Pipeline>& next);

  const std::shared_ptr<LoadedModule>& protocol_module() const { return protocol_module_; }
  const std::shared_ptr<LoadedModule>& handler_module() const { return handler_module_; }
  // The reload that took it out of service (its listener switched to another pipeline,
  // or was removed); 0 while in service. Its connections close at that reload's drain
  // deadline.
  std::atomic<uint64_t> retired_by{0};

 private:
  void count(int64_t delta);  // open connections, per module
  void count_handler(int64_t delta);
  bool migrate_guarded(Connection& c, const std::shared_ptr<Pipeline>& next);

  std::shared_ptr<LoadedModule> protocol_module_;
  std::shared_ptr<LoadedModule> handler_module_;
  const gev_protocol_vtable* protocol_;
  const gev_handler_vtable* handler_;
  decltype(gev_protocol_vtable::after_message) after_message_;  // null before ABI 1.1
  decltype(gev_protocol_vtable::conn_stopping) conn_stopping_;  // null before ABI 1.2
  decltype(gev_handler_vtable::on_stopping) on_stopping_;
  uint32_t handler_flags_ = 0;
  decltype(gev_handler_vtable::conn_export) conn_export_;
  decltype(gev_handler_vtable::conn_import) conn_import_;
  decltype(gev_handler_vtable::state_export) state_export_;
  decltype(gev_handler_vtable::state_import) state_import_;
  decltype(gev_handler_vtable::on_connect_failed) on_connect_failed_;  // null before ABI 1.4
  decltype(gev_handler_vtable::on_peer_eof) on_peer_eof_;
  void* protocol_state_;
  void* handler_state_;
};

// What the core sees for connections whose pipeline is in their slot: every call after
// on_connect goes to that pipeline (the one the connection was given at its start).
class SlotDispatch : public gev::Protocol, public gev::Handler {
 public:
  // gev::Protocol
  DecodeResult decode(Connection& c, std::span<const uint8_t> in) override;
  void encode(Connection& c, const Frame& msg, WriteBatch& out) override;
  // gev::Handler
  std::span<const uint8_t> on_message(Connection& c, const Frame& frame) override;
  void on_close(Connection& c) override;
  bool on_stopping(Connection& c) override;
  bool on_peer_eof(Connection& c) override;

 protected:
  ~SlotDispatch() = default;
};

class Switch final : public SlotDispatch {
 public:
  explicit Switch(std::shared_ptr<Pipeline> p) : current_(std::move(p)) {}

  std::shared_ptr<Pipeline> current() const {
    std::lock_guard lock(mu_);
    return current_;
  }
  // Returns the pipeline it replaces.
  std::shared_ptr<Pipeline> set(std::shared_ptr<Pipeline> p) {
    std::lock_guard lock(mu_);
    current_.swap(p);
    return p;
  }

  void on_connect(Connection& c) override;

 private:
  mutable std::mutex mu_;  // taken once per connect (and per reload)
  std::shared_ptr<Pipeline> current_;
};

}  // namespace gev::host
