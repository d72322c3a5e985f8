// gev-host: loads protocol and handler modules and serves them on the core's loops.
//   gev-host --listen 127.0.0.1:1833 --protocol raw --handler echo
//   gev-host --config gev-host.conf
#include <gev/log.h>
#include <gev/server.h>
#include <sys/socket.h>
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
#include "lifecycle.h"
#include "outbound.h"
#include "metrics.h"
#include "module_loader.h"
#include "reload_thread.h"
#include "runtime.h"
#include "systemd.h"

namespace {

constexpr std::chrono::nanoseconds kLagProbe = std::chrono::milliseconds(100);

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
    std::vector<int> fds = take_all(name, address, SOCK_STREAM, 1);
    return fds.empty() ? -1 : fds[0];
  }
  // The sockets of that type (SOCK_STREAM, SOCK_DGRAM) for the listener, at most `max`:
  // those named after it, else those bound to its address. A UDP listener takes its
  // whole group (a socket per loop of the previous host).
  std::vector<int> take_all(const std::string& name, const std::string& address, int type,
                            size_t max = SIZE_MAX) {
    std::optional<gev::SocketAddress> want = gev::SocketAddress::parse(address);
    std::vector<int> fds;
    for (int pass = 0; pass < 2 && fds.empty(); ++pass) {
      for (auto& s : sockets_) {
        bool match = pass == 0 ? s.name == name : want && s.address == want->to_string();
        if (s.fd < 0 || !match || socket_type(s.fd) != type || fds.size() >= max) continue;
        fds.push_back(s.fd);
        GEV_INFO("listener %s: serving fd %d (%s) from %s", name.c_str(), s.fd, s.address.c_str(),
                 from_);
        s.fd = -1;
      }
    }
    return fds;
  }

 private:
  static int socket_type(int fd) {
    int type = 0;
    socklen_t len = sizeof type;
    return ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 ? type : -1;
  }

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

// The sockets a hand-off passes on: every listener serving now, and the admin endpoint.
std::vector<gev::host::ActivatedSocket> sockets_to_pass(gev::Server& server,
                                                        const gev::host::Runtime& runtime,
                                                        std::optional<size_t> admin) {
  std::vector<std::pair<size_t, std::string>> serving = runtime.serving();
  if (admin) serving.emplace_back(*admin, "admin");
  std::vector<gev::host::ActivatedSocket> out;
  for (const auto& [index, name] : serving) {
    std::vector<int> fds = server.listen_fds(index);  // a UDP listener: its whole group
    if (fds.empty()) {
      GEV_WARN("hand-off: listener %s has no single socket (reuseport): not passed", name.c_str());
      continue;
    }
    for (int fd : fds) out.push_back({fd, name, server.address(index).to_string()});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  gev::host::HostOptions o;
  if (int rc = gev::host::parse_host_options(argc, argv, o); rc != 0) return rc < 0 ? 0 : rc;
  gev::set_log_level(o.log_level);
  gev::host::AdminEndpoint::Settings admin_settings;
  admin_settings.request_timeout = std::chrono::milliseconds(o.admin_request_timeout_ms);
  // --admin unix:PATH (whether the admin is a unix socket is read from the socket served)
  std::string admin_unix = o.admin.rfind("unix:", 0) == 0 ? o.admin.substr(5) : "";
  if (!o.admin_token_file.empty()) {
    std::string why;
    if (!gev::host::read_admin_token(o.admin_token_file, &admin_settings.token, &why)) {
      std::fprintf(stderr, "gev-host: %s\n", why.c_str());
      return 2;
    }
  }
  // SIGHUP means "reload" once the server runs; until then it must not end the process.
  ::signal(SIGHUP, SIG_IGN);
  if (o.module_dir.empty()) o.module_dir = gev::host::default_module_dir(argv[0]);

  // Declared in the order they must die in reverse: modules outlive everything holding
  // them, and the listeners' switches outlive the server.
  gev::host::ModuleLifecycle lifecycle;
  gev::host::ModuleLoader loader(std::filesystem::temp_directory_path());
  gev::host::MetricsSource metrics;
  metrics.lifecycle = &lifecycle;
  gev::host::Runtime runtime(argc, argv, o, loader, lifecycle, metrics);
  gev::host::ReloadThread reloads(runtime);
  gev::host::AdminEndpoint admin(
      [&metrics] { return gev::host::render_metrics(metrics); },
      [&reloads](gev::host::AdminEndpoint::ReloadDone done) {
        reloads.request([done = std::move(done)](const gev::host::Runtime::Result& r) {
          done(r.ok, r.message);
        });
      },
      admin_settings);
  std::unique_ptr<gev::host::HandoffServer> handoff;
  std::promise<bool> serving;  // set when the loops run (true) or the start failed
  std::thread confirm;
  gev::Options server_options;
  server_options.loops = o.loops;
  server_options.stop_delay = std::chrono::milliseconds(o.shutdown_delay_ms);
  int rc = 0;
  // Sized once the server has resolved its loop count; its loops' timers point into it.
  std::unique_ptr<std::atomic<int64_t>[]> lag;
  // A start-up error is the last line, after the modules' unloading.
  struct LastWords {
    std::string text;
    ~LastWords() {
      if (!text.empty()) std::fprintf(stderr, "gev-host: %s\n", text.c_str());
    }
  } last_words;
  {
    gev::Server server(server_options);
    // Modules' outbound connections (ABI 1.4 dial): the server's one dialer.
    gev::host::Outbound outbound(
        server, [&runtime](std::string_view name) { return runtime.find_protocol(name); });
    metrics.dialer = static_cast<int64_t>(outbound.dialer());
    // Whatever way this block ends, the loops have stopped before the server dies: a
    // module released from then on is finished on the releasing thread.
    struct Stopped {
      gev::host::ModuleLifecycle& lifecycle;
      gev::host::Runtime& runtime;
      ~Stopped() {
        lifecycle.server_stopped();
        runtime.release();  // modules unload here, on this thread, while the loops exist
      }
    } stopped{lifecycle, runtime};

    // Load every module and resolve every listener before anything listens (or takes a
    // socket from a running host): a missing module is a start-up error.
    std::string error;
    bool bad_options = false;
    if (!runtime.load(server, &error, &bad_options)) {
      last_words.text = error;
      return bad_options ? 2 : 1;
    }
    // Inherited listening sockets: from the gev-host we take over from, or from systemd.
    gev::host::Takeover takeover;
    if (!o.takeover.empty()) {
      if (!gev::host::request_takeover(o.takeover, &takeover, &error)) {
        last_words.text = "--takeover: " + error;
        return 1;
      }
    }
    ActivatedSockets activated(
        o.takeover.empty() ? gev::host::take_activated_sockets() : takeover.sockets,
        o.takeover.empty() ? "the service manager" : "the previous gev-host");
    runtime.listen([&activated](const gev::host::ListenerConfig& l) {
      return activated.take_all(l.name, l.listen, l.udp() ? SOCK_DGRAM : SOCK_STREAM,
                                l.udp() ? SIZE_MAX : 1);
    });
    std::optional<size_t> admin_index;
    if (!o.admin.empty() && o.admin != "off") {
      gev::Options ao;
      ao.address = o.admin;
      ao.listen_fd = activated.take("admin", o.admin);
      if (ao.listen_fd < 0 && !admin_unix.empty()) {
        ao.listen_fd = gev::host::listen_unix(admin_unix, &error);
        if (ao.listen_fd < 0) {
          last_words.text = "--admin: " + error;
          return 1;
        }
        GEV_INFO("admin: listening on unix:%s (mode 0600)", admin_unix.c_str());
      }
      if (ao.listen_fd >= 0) {  // what is served decides, not what --admin says
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (::getsockname(ao.listen_fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
          admin.set_unix_socket(ss.ss_family == AF_UNIX);
      }
      ao.name = "admin";
      ao.idle_timeout = std::chrono::seconds(30);  // (requests have their own deadline)
      // The endpoint keeps its own 64 slots (evicting the longest idle); this only
      // bounds connections evicted but not closed yet.
      ao.max_connections = 256;
      admin_index = server.add_listener(admin, ao, &admin);
      metrics.add_listener("admin");
    }
    activated.close_unclaimed();
    metrics.server = &server;
    lag = std::make_unique<std::atomic<int64_t>[]>(server.loops().size());
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
    // Per-loop module state goes on each loop's own thread, after its connections closed.
    server.set_loop_exit_hook([&lifecycle](gev::EventLoop& loop) { lifecycle.loop_exit(loop); });
    // Readiness for a service manager (Type=notify): the first worker loop's first task
    // after loop_init, so it goes out once run() has opened every listening socket (a
    // failed bind throws before any worker starts, and nothing is sent).
    server.loops()[0]->queue_in_loop([&serving, &runtime, &admin] {
      // Stopping already (a signal at start): not READY, and no successor takes over.
      bool ready = runtime.notify_unless_stopping("READY=1\nMAINPID=" + std::to_string(::getpid()));
      if (ready && admin.health() == gev::host::AdminEndpoint::Health::kStarting)
        admin.set_health(gev::host::AdminEndpoint::Health::kServing);
      serving.set_value(ready);
    });
    server.set_hangup_hook(
        [&reloads] { reloads.request([](const gev::host::Runtime::Result&) {}); });
    // Our own hand-off socket: a successor may take our listening sockets, and we drain.
    auto start_handoff = [&] {
      auto collect = [&server, &runtime, admin_index] {
        // Read on the acceptor loop, which owns the listeners. The promise is shared: if
        // the loop is already stopping, the wait below gives up and the task may run late.
        auto got = std::make_shared<std::promise<std::vector<gev::host::ActivatedSocket>>>();
        server.main_loop().run_in_loop([&server, &runtime, admin_index, got] {
          got->set_value(sockets_to_pass(server, runtime, admin_index));
        });
        auto f = got->get_future();
        if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready)
          return std::vector<gev::host::ActivatedSocket>{};
        return f.get();
      };
      auto drained = [&server, &o, &runtime, &admin] {
        runtime.stopping();  // a successor serves our sockets: no reload from now on
        admin.set_health(gev::host::AdminEndpoint::Health::kDraining);
        // Our listeners have stopped when this returns (the successor is told so next).
        auto accepting_stopped = std::make_shared<std::promise<void>>();
        server.main_loop().run_in_loop([&server, &o, accepting_stopped] {
          drain_then_stop(server, std::chrono::milliseconds(o.drain_timeout_ms));
          accepting_stopped->set_value();
        });
        accepting_stopped->get_future().wait_for(std::chrono::seconds(5));
      };
      handoff = std::make_unique<gev::host::HandoffServer>(o.handoff_socket, collect, drained);
    };
    if (takeover.conn >= 0 || !o.handoff_socket.empty()) {
      confirm = std::thread([&, f = serving.get_future()]() mutable {
        if (!f.get()) return;  // the start failed: the old process keeps serving
        if (takeover.conn >= 0) {
          std::string why;
          if (gev::host::confirm_takeover(takeover, 10000, &why))
            GEV_INFO("took over from the gev-host at %s", o.takeover.c_str());
          else
            GEV_WARN("%s", why.c_str());
        }
        if (o.handoff_socket.empty()) return;
        try {
          start_handoff();
        } catch (const std::exception& e) {
          GEV_ERROR("%s", e.what());
        }
      });
    }
    server.set_stop_hook([&runtime, &admin] {
      runtime.stopping();  // first: no READY=1 from a reload may follow STOPPING=1
      if (admin.health() != gev::host::AdminEndpoint::Health::kDraining)
        admin.set_health(gev::host::AdminEndpoint::Health::kStopping);  // /healthz: 503
      gev::host::sd_notify("STOPPING=1");
    });
    try {
      server.run();
    } catch (const std::exception& e) {
      last_words.text = e.what();
      rc = 1;
    }
    try {
      serving.set_value(false);  // never served: let the confirming thread go
    } catch (const std::future_error&) {
    }
    if (confirm.joinable()) confirm.join();
    handoff.reset();     // its thread reads from the server
    reloads.shutdown();  // a reload in progress ends (refused from now on)
  }
  return rc;
}
