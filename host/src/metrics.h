// Renders the host's /metrics page (Prometheus text format 0.0.4).
#pragma once

#include <gev/server.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loaded_module.h"

namespace gev::host {

struct MetricsSource {
  const Server* server = nullptr;
  std::vector<std::string> listener_names;  // index = Server listener index
  std::map<std::string, std::shared_ptr<LoadedModule>> modules;
  const std::atomic<int64_t>* loop_lag_ns = nullptr;  // one per loop: last timer lateness
};

std::string render_metrics(const MetricsSource& src);

}  // namespace gev::host
