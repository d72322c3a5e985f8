// Pipeline: one listener's protocol module and handler module, presented to the core as
// a gev::Protocol and a gev::Handler. It owns nothing but references to the modules;
// the listener keeps the modules alive.
#pragma once

#include <gev/protocol.h>

#include <memory>

#include "loaded_module.h"

namespace gev::host {

class Pipeline final : public gev::Protocol, public gev::Handler {
 public:
  Pipeline(std::shared_ptr<LoadedModule> protocol, std::shared_ptr<LoadedModule> handler);

  // gev::Protocol
  DecodeResult decode(Connection& c, std::span<const uint8_t> in) override;
  void encode(Connection& c, const Frame& msg, WriteBatch& out) override;
  // gev::Handler
  void on_connect(Connection& c) override;
  std::span<const uint8_t> on_message(Connection& c, const Frame& frame) override;
  void on_close(Connection& c) override;

 private:
  std::shared_ptr<LoadedModule> protocol_module_;
  std::shared_ptr<LoadedModule> handler_module_;
  const gev_protocol_vtable* protocol_;
  const gev_handler_vtable* handler_;
  decltype(gev_protocol_vtable::after_message) after_message_;  // null before ABI 1.1
  void* protocol_state_;
  void* handler_state_;
};

}  // namespace gev::host
