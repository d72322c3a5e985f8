// Outbound implementation.
#include "outbound.h"

#include <gev/log.h>

#include <atomic>
#include <stdexcept>
#include <string>

#include "host_api.h"
#include "loaded_module.h"

namespace gev::host {

namespace {
std::atomic<Outbound*> g_instance{nullptr};

// What a dial carries to on_connect / on_connect_failed.
struct DialContext {
  std::shared_ptr<Pipeline> pipeline;
  void* user;  // gev_dial_options::context
};
}  // namespace

Outbound::Outbound(Server& server, ProtocolLookup lookup)
    : server_(server), lookup_(std::move(lookup)) {
  Options o;
  o.name = "outbound";
  dialer_ = server_.add_dialer(*this, o, this);
  g_instance = this;
}

Outbound::~Outbound() {
  g_instance = nullptr;
}

Outbound* Outbound::instance() {
  return g_instance.load();
}

std::shared_ptr<Pipeline> Outbound::pipeline_for(std::shared_ptr<LoadedModule> protocol,
                                                 std::shared_ptr<LoadedModule> handler) {
  std::lock_guard lock(mu_);
  for (auto it = pipelines_.begin(); it != pipelines_.end();)  // (few: one per pair in use)
    it = it->second.expired() ? pipelines_.erase(it) : std::next(it);
  auto& slot = pipelines_[{protocol.get(), handler.get()}];
  std::shared_ptr<Pipeline> p = slot.lock();
  if (!p) {
    p = std::make_shared<Pipeline>(std::move(protocol), std::move(handler));
    slot = p;
  }
  return p;
}

gev_status Outbound::dial(EventLoop& loop, const gev_dial_options& o, uint64_t* id) {
  LoadedModule* m = ModuleScope::module();
  if (!m) return GEV_ERR_INVALID;  // only from the module's own callbacks
  std::shared_ptr<LoadedModule> hold = ModuleScope::hold();
  // Being retired (loop_fini, destroy) or replaced by a reload: it starts nothing new.
  if (!hold || m->retired_by.load() != 0) return GEV_ERR_CLOSED;
  if (!m->descriptor().handler) return GEV_ERR_UNSUPPORTED;
  std::shared_ptr<LoadedModule> protocol;
  std::string_view name(reinterpret_cast<const char*>(o.protocol.ptr), o.protocol.len);
  if (!name.empty()) {
    protocol = lookup_(name);
  } else if (o.like) {
    if (ConnSlot* s = slot_of(*conn_of(o.like))) protocol = s->pipeline->protocol_module();
  } else {
    protocol = lookup_("raw");
  }
  if (!protocol || !protocol->descriptor().protocol) return GEV_ERR_INVALID;
  ConnectOptions co;
  co.loop = &loop;
  co.timeout = std::chrono::milliseconds(o.timeout_ms ? o.timeout_ms : 10000);
  co.context = DialContext{pipeline_for(std::move(protocol), std::move(hold)), o.context};
  std::string address(reinterpret_cast<const char*>(o.address.ptr), o.address.len);
  DialId d;
  try {
    d = server_.connect(dialer_, std::move(address), std::move(co));
  } catch (const std::invalid_argument&) {
    return GEV_ERR_INVALID;  // not one of the server's loops
  }
  if (d == 0) return GEV_ERR_CLOSED;  // stopping
  if (id) *id = d;
  return GEV_OK;
}

void Outbound::on_connect(Connection& c) {
  DialContext* dc = std::any_cast<DialContext>(&c.context());
  if (!dc) {
    c.abort();
    return;
  }
  DialContext d = std::move(*dc);
  c.context().reset();
  d.pipeline->on_connect(c, d.user);
}

void Outbound::on_connect_failed(const DialFailure& f) {
  if (DialContext* dc = std::any_cast<DialContext>(&f.context)) {
    std::shared_ptr<Pipeline> keep = dc->pipeline;
    keep->on_connect_failed(f, dc->user);
  }
}

}  // namespace gev::host
