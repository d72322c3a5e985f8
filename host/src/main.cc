// gev-host: loads protocol and handler modules and serves them on the core's loops.
//   gev-host --listen 127.0.0.1:1833 --protocol raw --handler echo
//   gev-host --config gev-host.conf
#include <gev/log.h>
#include <gev/server.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "admin.h"
#include "handoff.h"
#include "host_api.h"
#include "host_options.h"
#include "metrics.h"
#include "module_loader.h"
#include "pipeline.h"
#include "systemd.h"

namespace {

using gev::host::LoadedModule;
using ModuleMap = std::map<std::string, std::shared_ptr<LoadedModule>>;
constexpr std::chrono::nanoseconds kLagProbe = std::chrono::milliseconds(100);

// Builds the module's gev_config from its options and calls create().
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

std::shared_ptr<LoadedModule> find(const ModuleMap& all, const std::string& name, bool protocol) {
  auto it = all.find(name);
  if (it == all.end()) return nullptr;
  if (protocol ? !it->second->is_protocol() : !it->second->is_handler()) return nullptr;
  return it->second;
}

gev::Options listener_options(const gev::host::ListenerConfig& l, size_t loops) {
  gev::Options so;
  so.address = l.listen;
  so.loops = loops;
  so.reuse_port = l.reuse_port;
  so.idle_timeout = std::chrono::milliseconds(l.idle_timeout_ms);
  so.max_connections = l.max_connections;
  return so;
}

// loop_init on every loop's own thread, before any connection (queued ahead of the
// listeners' start tasks).
void init_loops(const std::vector<std::shared_ptr<LoadedModule>>& used, gev::Server& server) {
  for (const auto& m : used) {
    m->host().loops.assign(server.loops().begin(), server.loops().end());
    if (!m->descriptor().loop_init) continue;
    for (gev::EventLoop* loop : server.loops())
      loop->queue_in_loop([m, loop] {
        if (m->descriptor().loop_init(m->state(), reinterpret_cast<gev_loop*>(loop)) != GEV_OK)
          GEV_ERROR("module %s: loop_init failed on loop %zu", m->name().c_str(), loop->index());
      });
  }
}

// Gives each listener the inherited socket (from systemd, or from the gev-host we take
// over from) named after it or, failing that, bound to its address. Sockets nobody
// takes are closed with a warning.
class ActivatedSockets {
 public:
  explicit ActivatedSockets(std::vector<gev::host::ActivatedSocket> sockets, const char* from)
      : sockets_(std::move(sockets)), from_(from) {
    for (const auto& s : sockets_)
      GEV_INFO("socket from %s: fd %d, %s, name '%s'", from_, s.fd, s.address.c_str(),
               s.name.c_str());
  }
  ~ActivatedSockets() { close_unclaimed(); }
  // After every listener has had its pick.
  void close_unclaimed() {
    for (auto& s : sockets_) {
      if (s.fd < 0) continue;
      GEV_WARN("socket from %s fd %d (%s, name '%s') matches no listener: closed", from_, s.fd,
               s.address.c_str(), s.name.c_str());
      ::close(s.fd);
      s.fd = -1;
    }
  }
  // The fd for listener `name` on `address`, or -1 (then the listener binds itself).
  int take(const std::string& name, const std::string& address) {
    std::optional<gev::SocketAddress> want = gev::SocketAddress::parse(address);
    for (int pass = 0; pass < 2; ++pass) {
      for (auto& s : sockets_) {
        bool match = pass == 0 ? s.name == name : want && s.address == want->to_string();
        if (s.fd < 0 || !match) continue;
        int fd = s.fd;
        s.fd = -1;
        GEV_INFO("listener %s: serving fd %d (%s) from %s", name.c_str(), fd, s.address.c_str(),
                 from_);
        return fd;
      }
    }
    return -1;
  }

 private:
  std::vector<gev::host::ActivatedSocket> sockets_;
  const char* from_;
};

// After a hand-off: serve the open connections until they close or the deadline, then
// stop (on the acceptor loop).
void drain_then_stop(gev::Server& server, std::chrono::milliseconds timeout) {
  server.stop_accepting();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  server.main_loop().run_every(std::chrono::milliseconds(50), [&server, deadline] {
    size_t open = server.open_connections();
    bool late = std::chrono::steady_clock::now() >= deadline;
    if (open != 0 && !late) return;
    if (open != 0) GEV_WARN("drain deadline passed with %zu connections open: closing them", open);
    server.stop();
  });
}

}  // namespace

int main(int argc, char** argv) {
  gev::host::HostOptions o;
  if (int rc = gev::host::parse_host_options(argc, argv, o); rc != 0) return rc < 0 ? 0 : rc;
  gev::set_log_level(o.log_level);
  // SIGHUP will mean "reload"; until reload exists it must not end the process.
  ::signal(SIGHUP, SIG_IGN);
  if (o.module_dir.empty()) o.module_dir = gev::host::default_module_dir(argv[0]);

  gev::host::ModuleLoader loader(std::filesystem::temp_directory_path());
  ModuleMap modules;
  for (auto& [name, m] : loader.scan(o.module_dir))
    if (create_module(*m, o)) modules.emplace(name, m);

  // Resolve every listener before anything listens: a missing module is a start-up error.
  std::vector<std::unique_ptr<gev::host::Pipeline>> pipelines;
  std::vector<std::shared_ptr<LoadedModule>> used;
  for (const auto& l : o.listeners) {
    auto protocol = find(modules, l.protocol, true);
    auto handler = find(modules, l.handler, false);
    if (!protocol || !handler) {
      std::fprintf(stderr, "gev-host: listener '%s': no %s module named '%s' in %s\n",
                   l.name.c_str(), protocol ? "handler" : "protocol",
                   (protocol ? l.handler : l.protocol).c_str(), o.module_dir.c_str());
      return 1;
    }
    pipelines.push_back(std::make_unique<gev::host::Pipeline>(protocol, handler));
    for (const auto& m : {protocol, handler})
      if (std::find(used.begin(), used.end(), m) == used.end()) used.push_back(m);
  }

  // Inherited listening sockets: from the gev-host we take over from, or from systemd.
  gev::host::Takeover takeover;
  if (!o.takeover.empty()) {
    std::string error;
    if (!gev::host::request_takeover(o.takeover, &takeover, &error)) {
      std::fprintf(stderr, "gev-host: --takeover: %s\n", error.c_str());
      return 1;
    }
  }
  ActivatedSockets activated(
      o.takeover.empty() ? gev::host::take_activated_sockets() : takeover.sockets,
      o.takeover.empty() ? "the service manager" : "the previous gev-host");
  std::unique_ptr<gev::host::HandoffServer> handoff;
  std::promise<bool> serving;  // set when the loops run (true) or the start failed
  std::thread confirm;
  gev::Options server_options;
  server_options.loops = o.loops;
  int rc = 0;
  gev::host::MetricsSource metrics;
  gev::host::AdminEndpoint admin([&metrics] { return gev::host::render_metrics(metrics); });
  // Declared before the server (its loops' timers point into it), sized once the server
  // has resolved its loop count.
  std::unique_ptr<std::atomic<int64_t>[]> lag;
  {
    gev::Server server(server_options);
    lag = std::make_unique<std::atomic<int64_t>[]>(server.loops().size());
    for (size_t i = 0; i < o.listeners.size(); ++i) {
      gev::Options lo = listener_options(o.listeners[i], o.loops);
      lo.listen_fd = activated.take(o.listeners[i].name, o.listeners[i].listen);
      server.add_listener(*pipelines[i], lo, pipelines[i].get());
      metrics.listener_names.push_back(o.listeners[i].name);
      GEV_INFO("listener %s: %s over %s on %s", o.listeners[i].name.c_str(),
               o.listeners[i].handler.c_str(), o.listeners[i].protocol.c_str(),
               o.listeners[i].listen.c_str());
    }
    if (!o.admin.empty() && o.admin != "off") {
      gev::Options ao;
      ao.address = o.admin;
      ao.listen_fd = activated.take("admin", o.admin);
      ao.idle_timeout = std::chrono::seconds(30);
      ao.max_connections = 64;
      server.add_listener(admin, ao, &admin);
      metrics.listener_names.push_back("admin");
    }
    activated.close_unclaimed();
    metrics.server = &server;
    metrics.modules = modules;
    // Loop lag: a 100 ms probe per loop; how late it fires is how busy the loop is.
    metrics.loop_lag_ns = lag.get();
    for (gev::EventLoop* loop : server.loops()) {
      auto last = std::make_shared<int64_t>(0);
      std::atomic<int64_t>* slot = &lag[loop->index()];
      loop->run_every(kLagProbe, [loop, last, slot] {
        int64_t now = loop->now_ns();
        if (*last != 0) slot->store(std::max<int64_t>(0, now - *last - kLagProbe.count()));
        *last = now;
      });
    }
    init_loops(used, server);
    // Per-loop module state goes on each loop's own thread, after its connections closed.
    server.set_loop_exit_hook([&used](gev::EventLoop& loop) {
      for (const auto& m : used)
        if (m->descriptor().loop_fini)
          m->descriptor().loop_fini(m->state(), reinterpret_cast<gev_loop*>(&loop));
    });
    // Readiness for a service manager (Type=notify): the first worker loop's first task
    // after loop_init, so it goes out once run() has opened every listening socket (a
    // failed bind throws before any worker starts, and nothing is sent).
    server.loops()[0]->queue_in_loop([&serving] {
      gev::host::sd_notify("READY=1\nMAINPID=" + std::to_string(::getpid()));
      serving.set_value(true);
    });
    // Our own hand-off socket: a successor may take our listening sockets, and we drain.
    auto start_handoff = [&] {
      auto collect = [&server, &metrics] {
        // Read on the acceptor loop, which owns the listeners. The promise is shared: if
        // the loop is already stopping, the wait below gives up and the task may run late.
        auto got = std::make_shared<std::promise<std::vector<gev::host::ActivatedSocket>>>();
        server.main_loop().run_in_loop([&server, &metrics, got] {
          std::vector<gev::host::ActivatedSocket> out;
          for (size_t i = 0; i < metrics.listener_names.size(); ++i) {
            int fd = server.listen_fd(i);
            if (fd < 0) {
              GEV_WARN("hand-off: listener %s has no single socket (reuseport): not passed",
                       metrics.listener_names[i].c_str());
              continue;
            }
            out.push_back({fd, metrics.listener_names[i], server.address(i).to_string()});
          }
          got->set_value(std::move(out));
        });
        auto f = got->get_future();
        if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready)
          return std::vector<gev::host::ActivatedSocket>{};
        return f.get();
      };
      auto drained = [&server, &o] {
        server.main_loop().run_in_loop([&server, &o] {
          drain_then_stop(server, std::chrono::milliseconds(o.drain_timeout_ms));
        });
      };
      handoff = std::make_unique<gev::host::HandoffServer>(o.handoff_socket, collect, drained);
    };
    if (takeover.conn >= 0 || !o.handoff_socket.empty()) {
      confirm = std::thread([&, f = serving.get_future()]() mutable {
        if (!f.get()) return;  // the start failed: the old process keeps serving
        if (takeover.conn >= 0) {
          std::string error;
          if (gev::host::confirm_takeover(takeover, 10000, &error))
            GEV_INFO("took over from the gev-host at %s", o.takeover.c_str());
          else
            GEV_WARN("%s", error.c_str());
        }
        if (o.handoff_socket.empty()) return;
        try {
          start_handoff();
        } catch (const std::exception& e) {
          GEV_ERROR("%s", e.what());
        }
      });
    }
    server.set_stop_hook([] { gev::host::sd_notify("STOPPING=1"); });
    try {
      server.run();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "gev-host: %s\n", e.what());
      rc = 1;
    }
    try {
      serving.set_value(false);  // never served: let the confirming thread go
    } catch (const std::future_error&) {
    }
    if (confirm.joinable()) confirm.join();
    handoff.reset();  // its thread reads from the server
  }
  return rc;
}
