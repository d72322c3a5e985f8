// Renders the host's /metrics page (Prometheus text format 0.0.4).
#pragma once

#include <gev/server.h>
#include <gev/tls.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "loaded_module.h"

namespace gev::host {

class ModuleLifecycle;

struct MetricsSource {
  const Server* server = nullptr;
  const std::atomic<int64_t>* loop_lag_ns = nullptr;  // one per loop: last timer lateness
  const ModuleLifecycle* lifecycle = nullptr;
  // What the current generation serves; replaced by a reload (under mu).
  mutable std::mutex mu;
  std::vector<std::string> listener_names;  // index = Server listener index (repeats add up)
  std::map<std::string, std::shared_ptr<LoadedModule>> modules;
  std::atomic<uint64_t> generation{1};
  std::atomic<int64_t> dialer{-1};  // the server's dialer for modules' dials (ABI 1.4), if any
  std::atomic<uint64_t> reloads_ok{0}, reloads_failed{0};
  std::atomic<uint64_t> migrations_ok{0}, migrations_failed{0};  // connections moved by reloads

  // Its TLS handshake counters (null: never TLS, like the admin listener).
  std::vector<std::shared_ptr<gev::tls::Context>> listener_tls;

  // The server just added listener number listener_names.size().
  void add_listener(const std::string& name, std::shared_ptr<gev::tls::Context> tls = nullptr) {
    std::lock_guard lock(mu);
    listener_names.push_back(name);
    listener_tls.push_back(std::move(tls));
  }
  // Shows `now`; the map it replaces is released after the lock (a module may unload).
  void set_modules(std::map<std::string, std::shared_ptr<LoadedModule>> now) {
    {
      std::lock_guard lock(mu);
      modules.swap(now);
    }
  }
};

std::string render_metrics(const MetricsSource& src);

}  // namespace gev::host
