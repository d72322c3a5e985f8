// Outbound: modules' dials (ABI 1.4 host->dial). One core dialer serves every module: a
// dial carries the pipeline it was made with (the protocol module it asked for, and the
// dialling handler module) in its context, and the connection keeps that pipeline in its
// slot, as an accepted one keeps its listener's; both module instances stay loaded while
// a dial is pending or its connection is open.
#pragma once

#include <gev/server.h>
#include <gev/sdk/gev_host.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>

#include "pipeline.h"

namespace gev::host {

class Outbound final : public SlotDispatch {
 public:
  // The protocol module loaded under a name now (null if none).
  using ProtocolLookup = std::function<std::shared_ptr<LoadedModule>(std::string_view)>;
  // Adds the dialer to `server` (before it starts) and becomes instance().
  Outbound(Server& server, ProtocolLookup lookup);
  ~Outbound();
  Outbound(const Outbound&) = delete;
  Outbound& operator=(const Outbound&) = delete;
  static Outbound* instance();

  // From a callback of the dialling module, on `loop` (host_api's dial).
  gev_status dial(EventLoop& loop, const gev_dial_options& opts, uint64_t* id);
  void cancel(uint64_t id) { server_.cancel_dial(id); }
  size_t dialer() const { return dialer_; }

  // gev::Handler
  void on_connect(Connection& c) override;
  void on_connect_failed(const DialFailure& f) override;

 private:
  std::shared_ptr<Pipeline> pipeline_for(std::shared_ptr<LoadedModule> protocol,
                                         std::shared_ptr<LoadedModule> handler);

  Server& server_;
  ProtocolLookup lookup_;
  size_t dialer_;
  std::mutex mu_;
  // One pipeline per (protocol, handler) pair while any of its dials or connections lives.
  std::map<std::pair<const LoadedModule*, const LoadedModule*>, std::weak_ptr<Pipeline>> pipelines_;
};

}  // namespace gev::host
