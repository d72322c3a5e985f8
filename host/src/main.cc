// gev-host: loads protocol and handler modules and serves them on the core's loops.
//   gev-host --listen 127.0.0.1:1833 --protocol raw --handler echo
#include <gev/log.h>
#include <gev/server.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "host_api.h"
#include "host_options.h"
#include "module_loader.h"
#include "pipeline.h"

namespace {

using gev::host::LoadedModule;

// Builds the module's gev_config from --module-opt and calls create().
bool create_module(LoadedModule& m, const gev::host::HostOptions& o) {
  std::vector<gev_config_entry> entries;
  if (auto it = o.module_opts.find(m.name()); it != o.module_opts.end())
    for (const auto& [k, v] : it->second) entries.push_back({k.c_str(), v.c_str()});
  gev_config config{sizeof(gev_config), static_cast<uint32_t>(entries.size()), entries.data()};
  std::string error;
  if (m.create(config, &error)) return true;
  GEV_ERROR("refused module %s: %s", m.source().c_str(), error.c_str());
  return false;
}

std::shared_ptr<LoadedModule> find(const std::map<std::string, std::shared_ptr<LoadedModule>>& all,
                                   const std::string& name, bool protocol) {
  auto it = all.find(name);
  if (it == all.end()) return nullptr;
  if (protocol ? !it->second->is_protocol() : !it->second->is_handler()) return nullptr;
  return it->second;
}

}  // namespace

int main(int argc, char** argv) {
  gev::host::HostOptions o;
  if (int rc = gev::host::parse_host_options(argc, argv, o); rc != 0) return rc < 0 ? 0 : rc;
  gev::set_log_level(o.log_level);
  if (o.module_dir.empty()) o.module_dir = gev::host::default_module_dir(argv[0]);

  gev::host::ModuleLoader loader(std::filesystem::temp_directory_path() /
                                 ("gev-host-" + std::to_string(::getpid())));
  auto scanned = loader.scan(o.module_dir);
  std::map<std::string, std::shared_ptr<LoadedModule>> modules;
  for (auto& [name, m] : scanned)
    if (create_module(*m, o)) modules.emplace(name, m);

  auto protocol = find(modules, o.protocol, true);
  auto handler = find(modules, o.handler, false);
  if (!protocol || !handler) {
    const std::string& missing = protocol ? o.handler : o.protocol;
    std::fprintf(stderr, "gev-host: no %s module named '%s' in %s\n",
                 protocol ? "handler" : "protocol", missing.c_str(), o.module_dir.c_str());
    return 1;
  }

  gev::Options so;
  so.address = o.listen;
  so.loops = o.loops;
  so.reuse_port = o.reuse_port;
  so.idle_timeout = std::chrono::milliseconds(o.idle_timeout_ms);
  so.max_connections = o.max_connections;
  int rc = 0;
  {
    gev::host::Pipeline pipeline(protocol, handler);
    gev::Server server(pipeline, so, &pipeline);
    std::vector<std::shared_ptr<LoadedModule>> used = {protocol};
    if (handler != protocol) used.push_back(handler);
    for (auto& m : used) {
      m->host().loops.assign(server.loops().begin(), server.loops().end());
      if (!m->descriptor().loop_init) continue;
      for (gev::EventLoop* loop : server.loops())
        loop->queue_in_loop([m, loop] {
          if (m->descriptor().loop_init(m->state(), reinterpret_cast<gev_loop*>(loop)) != GEV_OK)
            GEV_ERROR("module %s: loop_init failed on loop %zu", m->name().c_str(), loop->index());
        });
    }
    try {
      GEV_INFO("serving %s over %s on %s", handler->name().c_str(), protocol->name().c_str(),
               o.listen.c_str());
      server.run();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "gev-host: %s\n", e.what());
      rc = 1;
    }
    // The loops have stopped: per-loop state goes on this thread.
    for (auto& m : used)
      if (m->descriptor().loop_fini)
        for (gev::EventLoop* loop : server.loops())
          m->descriptor().loop_fini(m->state(), reinterpret_cast<gev_loop*>(loop));
  }
  return rc;
}
