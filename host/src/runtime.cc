// Runtime implementation: staging (nothing shared changes), then the commit (nothing
// after its first step can fail).
#include "runtime.h"

#include <fcntl.h>
#include <gev/log.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include "host_api.h"
#include "systemd.h"

namespace gev::host {

namespace fs = std::filesystem;

namespace {

constexpr auto kInitTimeout = std::chrono::seconds(10);
// After a reload's drain deadline: how long a connection's closing handshake may take.
constexpr auto kDrainGrace = std::chrono::seconds(5);

// Same path, same file, same contents as far as the file system tells.
std::string file_identity(const fs::path& f) {
  struct stat st {};
  if (::stat(f.c_str(), &st) != 0) return {};
  return f.string() + "|" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

// What a reload compares to keep a module: its file's identity and its options.
std::string module_identity(const std::string& file_id, const HostOptions& o,
                            const std::string& module) {
  std::string out = file_id + "|";
  if (auto it = o.module_opts.find(module); it != o.module_opts.end())
    for (const auto& [k, v] : it->second) out += k + "=" + v + "\n";
  return out;
}

gev::Options listener_options(const ListenerConfig& l, size_t loops) {
  gev::Options so;
  so.address = l.listen;
  so.loops = loops;
  so.reuse_port = l.reuse_port;
  so.idle_timeout = std::chrono::milliseconds(l.idle_timeout_ms);
  so.max_connections = l.max_connections;
  return so;
}

// Everything about a listener but what serves it: if this changes, the listener is
// replaced (opened anew, the old one closed) rather than switched.
bool same_socket(const ListenerConfig& a, const ListenerConfig& b) {
  return a.listen == b.listen && a.reuse_port == b.reuse_port &&
         a.idle_timeout_ms == b.idle_timeout_ms && a.max_connections == b.max_connections;
}

uint64_t monotonic_usec() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// loop_init for the fresh modules of a reload, one task per loop. The tasks report when
// they have run, or been dropped by a loop that exited.
struct InitWait {
  std::mutex mu;
  std::condition_variable cv;
  size_t left = 0;
  std::vector<std::string> failed;  // "module on loop N"
};
struct InitToken {
  std::shared_ptr<InitWait> wait;
  size_t loop = 0;
  bool ran = false;
  std::vector<std::string> failed;
  ~InitToken() {
    std::lock_guard lock(wait->mu);
    if (!ran) failed.push_back("every module on loop " + std::to_string(loop) + " (stopping)");
    wait->failed.insert(wait->failed.end(), failed.begin(), failed.end());
    --wait->left;
    wait->cv.notify_all();
  }
};

}  // namespace

Runtime::Runtime(int argc, char** argv, HostOptions options, ModuleLoader& loader,
                 ModuleLifecycle& lifecycle, MetricsSource& metrics)
    : args_(argv, argv + argc),
      options_(std::move(options)),
      loader_(loader),
      lifecycle_(lifecycle),
      metrics_(metrics) {}

std::shared_ptr<LoadedModule> Runtime::open_module(const fs::path& file, const std::string& file_id,
                                                   const HostOptions& next, uint64_t gen,
                                                   std::string* error) {
  std::unique_ptr<LoadedModule> opened = loader_.open(file, error);
  if (!opened) return nullptr;
  opened->host().loops.assign(lifecycle_.loops().begin(), lifecycle_.loops().end());
  opened->generation = gen;
  opened->identity = module_identity(file_id, next, opened->name());
  // Adopted before create: if create fails after starting timers, retiring it cancels
  // them on their loops before the library goes.
  return lifecycle_.adopt(std::move(opened));
}

bool Runtime::create_module(LoadedModule& m, const HostOptions& next, std::string* error) {
  std::vector<gev_config_entry> entries;
  if (auto it = next.module_opts.find(m.name()); it != next.module_opts.end())
    for (const auto& [k, v] : it->second) entries.push_back({k.c_str(), v.c_str()});
  gev_config config{sizeof(gev_config), static_cast<uint32_t>(entries.size()), entries.data()};
  return m.create(config, error);
}

bool Runtime::stage(const HostOptions& next, uint64_t gen, Staged& out, std::string* error) {
  auto refuse = [&](const fs::path& file, const std::string& name, const std::string& why) {
    GEV_ERROR("refused module %s: %s", file.c_str(), why.c_str());
    out.refused.push_back({file, name, why});
  };
  std::string list_error;
  std::vector<fs::path> files = ModuleLoader::list(next.module_dir, &list_error);
  if (!list_error.empty()) refuse(next.module_dir, "", list_error);
  for (fs::path& f : files) f = f.lexically_normal();
  // A file the config chooses for a module may live elsewhere.
  std::map<std::string, fs::path> chosen;  // module name -> the file the config names
  for (const auto& [name, file] : next.module_files) {
    fs::path f = (file.is_absolute() ? file : next.module_dir / file).lexically_normal();
    chosen[name] = f;
    if (std::find(files.begin(), files.end(), f) == files.end()) files.push_back(f);
  }

  // Open every file (a file and options unchanged since the running generation: keep
  // that instance), then settle who may have each name, then create the new ones.
  struct Candidate {
    fs::path file;
    std::shared_ptr<LoadedModule> module;
  };
  std::map<std::string, std::vector<Candidate>> by_name;
  for (const fs::path& f : files) {
    std::shared_ptr<LoadedModule> m;
    std::string file_id = file_identity(f);
    for (const auto& [name, cur] : modules_)
      if (cur->source() == f && cur->identity == module_identity(file_id, next, name)) m = cur;
    std::string why;
    if (!m) m = open_module(f, file_id, next, gen, &why);
    if (!m) {
      // A file the config chose for a module: the refusal is that module's.
      std::string name;
      for (const auto& [n, file] : chosen)
        if (file == f) name = n;
      refuse(f, name, why);
      continue;
    }
    by_name[m->name()].push_back({f, std::move(m)});
  }
  for (auto& [name, candidates] : by_name) {
    std::shared_ptr<LoadedModule> m;
    if (auto pick = chosen.find(name); pick != chosen.end()) {
      for (Candidate& c : candidates) {
        if (c.file == pick->second)
          m = c.module;
        else
          GEV_INFO("module %s: not loading %s ([module.%s] file = %s)", name.c_str(),
                   c.file.c_str(), name.c_str(), pick->second.c_str());
      }
      bool refused_already = std::any_of(out.refused.begin(), out.refused.end(),
                                         [&](const Refusal& r) { return r.file == pick->second; });
      if (!m && !refused_already)
        refuse(pick->second, name,
               "[module." + name + "] file names it, but it holds no module named '" + name + "'");
      if (!m) continue;
    } else if (candidates.size() > 1) {
      std::string all;
      for (const Candidate& c : candidates) all += (all.empty() ? "" : " and ") + c.file.string();
      refuse(candidates.front().file, name,
             all + (candidates.size() == 2 ? " both" : " all") + " claim the name '" + name +
                 "': none is loaded; remove the extra files or choose one with [module." +
                 name + "] file = ...");
      continue;
    } else {
      m = candidates.front().module;
    }
    std::string why;
    if (m->generation == gen && !create_module(*m, next, &why)) {
      refuse(m->source(), name, why);
      continue;
    }
    out.modules.emplace(name, m);
    if (m->generation != gen) continue;  // kept from the running generation
    out.fresh.push_back(m);
    GEV_INFO("loaded module %s %s from %s (generation %llu)", name.c_str(),
             m->descriptor().version, m->source().c_str(), static_cast<unsigned long long>(gen));
  }
  // Only what a listener uses can fail the load: a stray file costs its own line.
  for (const ListenerConfig& l : next.listeners) {
    std::shared_ptr<Pipeline> p = pipeline_for(l, out, next.module_dir, error);
    if (!p) return false;
    out.pipelines.push_back(std::move(p));
  }
  return true;
}

std::shared_ptr<Pipeline> Runtime::pipeline_for(const ListenerConfig& l, const Staged& s,
                                                const fs::path& module_dir,
                                                std::string* error) const {
  auto find = [&](const std::string& name, bool protocol) -> std::shared_ptr<LoadedModule> {
    auto it = s.modules.find(name);
    if (it == s.modules.end()) return nullptr;
    return (protocol ? it->second->is_protocol() : it->second->is_handler()) ? it->second : nullptr;
  };
  std::shared_ptr<LoadedModule> protocol = find(l.protocol, true);
  std::shared_ptr<LoadedModule> handler = find(l.handler, false);
  if (!protocol || !handler) {
    const std::string& name = protocol ? l.handler : l.protocol;
    std::string missing = "listener '" + l.name + "': no " + (protocol ? "handler" : "protocol") +
                          " module named '" + name + "' in " + module_dir.string();
    // Why, if a file that would have been it was refused: the module's own reason first.
    error->clear();
    for (const Refusal& r : s.refused)
      if (r.name == name || (r.name.empty() && r.file.stem() == name))
        *error += "refused module " + r.file.string() + ": " + r.why + "; ";
    *error += missing;
    return nullptr;
  }
  // A listener whose modules are the same instances keeps its pipeline (and its
  // connections are not drained).
  for (const Listener& cur : listeners_) {
    if (cur.config.name != l.name) continue;
    std::shared_ptr<Pipeline> p = cur.sw->current();
    if (p && p->protocol_module() == protocol && p->handler_module() == handler) return p;
  }
  return std::make_shared<Pipeline>(std::move(protocol), std::move(handler));
}

Switch& Runtime::new_switch(std::shared_ptr<Pipeline> p) {
  return switches_.emplace_back(std::move(p));
}

bool Runtime::load(Server& server, std::string* error) {
  server_ = &server;
  lifecycle_.set_loops(server.loops());
  Staged st;
  if (!stage(options_, generation_, st, error)) return false;
  modules_ = st.modules;
  initial_ = st.pipelines;
  // loop_init on every loop's own thread, queued ahead of the listeners' start.
  for (EventLoop* loop : server.loops())
    loop->queue_in_loop([this, fresh = st.fresh, loop] {
      if (lifecycle_.exited(*loop)) return;  // stopped before it ever served
      for (const auto& m : fresh) m->init_loop(*loop);
    });
  metrics_.set_modules(modules_);
  return true;
}

void Runtime::listen(const std::function<int(const ListenerConfig&)>& inherited_fd) {
  for (size_t i = 0; i < options_.listeners.size(); ++i) {
    const ListenerConfig& l = options_.listeners[i];
    Switch& sw = new_switch(initial_[i]);
    gev::Options lo = listener_options(l, lifecycle_.loops().size());
    lo.listen_fd = inherited_fd(l);
    size_t index = server_->add_listener(sw, lo, &sw);
    listeners_.push_back({l, index, &sw});
    metrics_.add_listener(l.name);
    GEV_INFO("listener %s: %s over %s on %s", l.name.c_str(), l.handler.c_str(), l.protocol.c_str(),
             l.listen.c_str());
  }
  initial_.clear();
}

bool Runtime::init_loops(const std::vector<std::shared_ptr<LoadedModule>>& fresh,
                         std::string* error) {
  if (fresh.empty()) return true;
  auto wait = std::make_shared<InitWait>();
  wait->left = lifecycle_.loops().size();
  for (EventLoop* loop : lifecycle_.loops()) {
    auto token = std::make_shared<InitToken>();
    token->wait = wait;
    token->loop = loop->index();
    loop->queue_in_loop([this, token, fresh, loop] {
      if (lifecycle_.exited(*loop)) return;  // too late: the stop finished this loop
      for (const auto& m : fresh)
        if (!m->init_loop(*loop))
          token->failed.push_back(m->name() + " on loop " + std::to_string(loop->index()));
      token->ran = true;
    });
  }
  auto deadline = std::chrono::steady_clock::now() + kInitTimeout;
  std::unique_lock lock(wait->mu);
  while (wait->left != 0) {
    bool stop = is_stopping();
    if (stop || std::chrono::steady_clock::now() >= deadline) {
      *error =
          stop ? "the server is stopping" : "loop_init did not finish on every loop within 10 s";
      return false;
    }
    wait->cv.wait_for(lock, std::chrono::milliseconds(50));
  }
  if (wait->failed.empty()) return true;
  *error = "loop_init failed: " + wait->failed.front();
  if (wait->failed.size() > 1)
    *error += " (and " + std::to_string(wait->failed.size() - 1) + " more)";
  return false;
}

void Runtime::stopping() {
  std::lock_guard lock(state_mu_);  // after a commit in progress, before any READY=1
  stopping_ = true;
}

std::vector<std::pair<size_t, std::string>> Runtime::serving() const {
  std::lock_guard lock(serving_mu_);
  std::vector<std::pair<size_t, std::string>> out;
  for (const Listener& l : listeners_) out.emplace_back(l.index, l.config.name);
  return out;
}

Runtime::Result Runtime::reload() {
  std::lock_guard lock(reload_mu_);
  if (!notify_unless_stopping("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec())))
    return {false, "the server is stopping"};
  auto began = std::chrono::steady_clock::now();
  Result r = reload_locked();
  if (r.ok && !pending_moves_.empty()) r.message += "; " + migrate(std::move(pending_moves_));
  pending_moves_.clear();
  char took[32];
  std::snprintf(
      took, sizeof took, " (%.1f ms)",
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count());
  r.message += took;
  if (r.ok) {
    metrics_.reloads_ok++;
    GEV_INFO("reload: %s", r.message.c_str());
    notify_unless_stopping("READY=1");
  } else {
    metrics_.reloads_failed++;
    GEV_ERROR("reload failed: %s; generation %llu keeps serving", r.message.c_str(),
              static_cast<unsigned long long>(generation_));
    notify_unless_stopping("READY=1\nSTATUS=reload failed: " + r.message);
    r.message += "; generation " + std::to_string(generation_) + " keeps serving";
  }
  return r;
}

bool Runtime::notify_unless_stopping(const std::string& state) {
  std::lock_guard lock(state_mu_);
  if (stopping_) return false;
  sd_notify(state);
  return true;
}

bool Runtime::is_stopping() const {
  std::lock_guard lock(state_mu_);
  return stopping_;
}

Runtime::Result Runtime::reload_locked() {
  uint64_t gen = generation_ + 1;
  // The command line and config file again, as at start.
  std::vector<char*> argv;
  for (std::string& a : args_) argv.push_back(a.data());
  argv.push_back(nullptr);
  HostOptions next;
  std::string error;
  if (parse_host_options(static_cast<int>(args_.size()), argv.data(), next, &error) != 0)
    return {false, "config: " + error};
  if (next.module_dir.empty()) next.module_dir = options_.module_dir;
  if (next.loops != options_.loops || next.admin != options_.admin ||
      next.handoff_socket != options_.handoff_socket ||
      next.admin_token_file != options_.admin_token_file ||
      next.shutdown_delay_ms != options_.shutdown_delay_ms)
    GEV_WARN(
        "reload: loops, admin, admin-token-file, shutdown-delay and handoff-socket changes "
        "take effect on restart only");
  next.loops = options_.loops;
  next.admin = options_.admin;
  next.handoff_socket = options_.handoff_socket;

  // Stage: nothing anyone uses changes until this has worked.
  Staged st;
  if (!stage(next, gen, st, &error)) return {false, error};
  if (!init_loops(st.fresh, &error)) return {false, error};

  // Live migration: a switched listener whose old and new handler both adopt moves its
  // open connections (after the commit, on their loops). Module-wide state goes first,
  // here: if that fails, the connections stay with the old instance, as without it.
  std::vector<Move> moves;
  // Module-wide state once per pair of instances, however many listeners they serve.
  std::map<std::pair<const LoadedModule*, const LoadedModule*>, bool> handed;
  for (size_t i = 0; i < next.listeners.size(); ++i) {
    auto cur = std::find_if(listeners_.begin(), listeners_.end(), [&](const Listener& x) {
      return x.config.name == next.listeners[i].name && same_socket(x.config, next.listeners[i]);
    });
    if (cur == listeners_.end()) continue;
    std::shared_ptr<Pipeline> old = cur->sw->current();
    if (!old || !old->can_migrate_to(*st.pipelines[i])) continue;
    auto pair = std::make_pair(old->handler_module().get(), st.pipelines[i]->handler_module().get());
    auto [it, first] = handed.try_emplace(pair, false);
    std::string why;
    if (first) it->second = old->hand_over_state(*st.pipelines[i], &why);
    if (!it->second) {
      GEV_WARN("reload: listener %s: %s: its connections stay with generation %llu",
               cur->config.name.c_str(), first ? why.c_str() : "module state not handed over",
               static_cast<unsigned long long>(old->handler_module()->generation));
      continue;
    }
    moves.emplace_back(std::move(old), st.pipelines[i]);
  }

  // Bind the listeners that are new, or whose socket settings changed, without
  // accepting yet. One on an address a listener on its way out serves shares that
  // socket (a dup): nothing queued in its backlog is lost.
  std::vector<Listener> serving;
  std::vector<Listener> opened;
  auto close_opened = [&] {
    for (const Listener& o : opened) {
      server_->remove_listener(o.index);  // never started: nothing was accepted
      o.sw->set(nullptr);                 // and the staged pipeline may go
    }
  };
  for (size_t i = 0; i < next.listeners.size(); ++i) {
    const ListenerConfig& l = next.listeners[i];
    auto cur = std::find_if(listeners_.begin(), listeners_.end(),
                            [&](const Listener& x) { return x.config.name == l.name; });
    if (cur != listeners_.end() && same_socket(cur->config, l)) {
      serving.push_back({l, cur->index, cur->sw});
      continue;
    }
    int fd = -1;
    std::optional<SocketAddress> want = SocketAddress::parse(l.listen);
    for (const Listener& x : listeners_) {
      bool leaving =
          std::none_of(next.listeners.begin(), next.listeners.end(), [&](const ListenerConfig& n) {
            return n.name == x.config.name && same_socket(n, x.config);
          });
      if (!leaving || !want || want->port() == 0 ||
          server_->address(x.index).to_string() != want->to_string())
        continue;
      if (x.config.reuse_port != l.reuse_port) {
        close_opened();
        return {false, "listener '" + l.name + "' on " + l.listen +
                           ": turning reuseport on or off for an address in use needs a restart"};
      }
      int old = server_->listen_fd(x.index);  // -1 with reuseport: a new group is bound
      if (old >= 0) fd = ::fcntl(old, F_DUPFD_CLOEXEC, 0);
      break;
    }
    Switch& sw = new_switch(st.pipelines[i]);
    gev::Options lo = listener_options(l, lifecycle_.loops().size());
    lo.listen_fd = fd;
    try {
      size_t index = server_->add_listener_paused(sw, lo, &sw);
      metrics_.add_listener(l.name);  // by server index, used or not
      opened.push_back({l, index, &sw});
      serving.push_back({l, index, &sw});
    } catch (const std::exception& e) {
      if (fd >= 0) ::close(fd);
      sw.set(nullptr);
      close_opened();
      return {false, "listener '" + l.name + "' on " + l.listen + ": " + e.what()};
    }
  }
  // Commit: from here nothing fails. A stop (or a hand-off's drain) beginning now
  // waits for it in stopping(), and sees every listener it opened.
  ModuleMap old_modules;  // released after the lock below: modules may unload then
  std::lock_guard commit(state_mu_);
  if (stopping_) {
    close_opened();
    return {false, "the server is stopping"};
  }
  size_t switched = 0, closed = 0;
  bool retired_any = false;
  auto retire = [&](const std::shared_ptr<Pipeline>& p) {
    if (!p || std::find(st.pipelines.begin(), st.pipelines.end(), p) != st.pipelines.end())
      return;  // (a replacement listener may serve on with the same one)
    uint64_t none = 0;
    if (p->retired_by.compare_exchange_strong(none, gen)) retired_any = true;
  };
  for (const Listener& o : opened) {
    server_->start_listener(o.index);
    GEV_INFO("reload: listener %s: %s over %s on %s", o.config.name.c_str(),
             o.config.handler.c_str(), o.config.protocol.c_str(), o.config.listen.c_str());
  }
  for (size_t i = 0; i < next.listeners.size(); ++i) {
    const Listener& s = serving[i];
    if (std::any_of(opened.begin(), opened.end(), [&](const Listener& o) { return o.sw == s.sw; }))
      continue;
    std::shared_ptr<Pipeline> old = s.sw->set(st.pipelines[i]);
    if (old != st.pipelines[i]) ++switched;
    retire(old);
  }
  for (const Listener& cur : listeners_) {
    if (std::any_of(serving.begin(), serving.end(),
                    [&](const Listener& s) { return s.sw == cur.sw; }))
      continue;
    // Replaced (same name, new settings) or removed. Until its socket is closed it may
    // still accept: a replaced one hands those connections the new pipeline.
    auto next_of = std::find_if(next.listeners.begin(), next.listeners.end(),
                                [&](const ListenerConfig& n) { return n.name == cur.config.name; });
    bool replaced = next_of != next.listeners.end();
    std::shared_ptr<Pipeline> now =
        replaced ? st.pipelines[static_cast<size_t>(next_of - next.listeners.begin())] : nullptr;
    retire(replaced ? cur.sw->set(now) : cur.sw->current());
    ++closed;
    // Once no connection can reach it any more, the switch lets its pipeline go.
    server_->remove_listener(cur.index, [sw = cur.sw] { sw->set(nullptr); });
    GEV_INFO("reload: listener %s on %s %s", cur.config.name.c_str(), cur.config.listen.c_str(),
             replaced ? "replaced (its settings changed)" : "removed");
  }
  size_t kept = st.modules.size() - st.fresh.size();
  {
    std::lock_guard lock(serving_mu_);
    listeners_ = std::move(serving);
  }
  old_modules = std::move(modules_);
  modules_ = std::move(st.modules);
  metrics_.set_modules(modules_);
  generation_ = gen;
  options_ = std::move(next);
  set_log_level(options_.log_level);
  metrics_.generation = gen;

  pending_moves_ = std::move(moves);  // moved by reload() once the commit is over
  // Connections on a pipeline this reload retired get the drain timeout (each reload's
  // deadline covers its own retirees).
  if (retired_any && options_.reload_drain_timeout_ms != 0) {
    auto drain = std::chrono::milliseconds(options_.reload_drain_timeout_ms);
    for (EventLoop* loop : lifecycle_.loops())
      loop->run_after(drain, [loop, gen] {
        auto of_gen = [loop, gen](const std::function<void(Connection&)>& fn) {
          std::vector<std::shared_ptr<Connection>> conns;
          loop->for_each_connection([&](Connection& c) {
            ConnSlot* slot = slot_of(c);
            if (slot && c.connected() && slot->pipeline->retired_by.load() == gen)
              conns.push_back(c.shared_from_this());
          });
          for (const auto& c : conns) fn(*c);
          return conns.size();
        };
        // Goodbyes (a WebSocket close 1001), then a close once flushed...
        size_t n = of_gen([](Connection& c) { c.begin_stopping(CloseReason::kDrainTimeout); });
        if (n == 0) return;
        GEV_WARN(
            "reload %llu: drain deadline passed on loop %zu: closing %zu connections of older "
            "generations",
            static_cast<unsigned long long>(gen), loop->index(), n);
        // ... and whatever a closing handshake still holds open a grace period later.
        loop->run_after(kDrainGrace, [of_gen] {
          of_gen([](Connection& c) { c.close_now(CloseReason::kDrainTimeout); });
        });
      });
  }
  std::string msg = "generation " + std::to_string(gen) +
                    " serving: " + std::to_string(st.fresh.size()) + " modules loaded, " +
                    std::to_string(kept) + " kept" +
                    (st.refused.empty()
                         ? std::string()
                         : ", " + std::to_string(st.refused.size()) + " refused (see the log)") +
                    "; listeners: " + std::to_string(switched) +
                    " switched, " + std::to_string(opened.size()) + " opened, " +
                    std::to_string(closed) + " closed";
  return {true, msg};
}

std::string Runtime::migrate(std::vector<Move> moves) {
  // One task per loop; the reload waits for all of them (a loop that exited drops its
  // task, and the token still counts it), so once a reload has answered, every
  // connection that could move has.
  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    size_t left = 0;
    size_t moved = 0, failed = 0;
  };
  struct Token {
    std::shared_ptr<Wait> wait;
    size_t moved = 0, failed = 0;
    ~Token() {
      std::lock_guard lock(wait->mu);
      wait->moved += moved;
      wait->failed += failed;
      --wait->left;
      wait->cv.notify_all();
    }
  };
  auto wait = std::make_shared<Wait>();
  wait->left = lifecycle_.loops().size();
  auto shared = std::make_shared<std::vector<Move>>(std::move(moves));
  for (EventLoop* loop : lifecycle_.loops()) {
    auto token = std::make_shared<Token>();
    token->wait = wait;
    loop->run_in_loop([loop, shared, token] {
      std::vector<std::shared_ptr<Connection>> conns;
      loop->for_each_connection([&](Connection& c) { conns.push_back(c.shared_from_this()); });
      for (const auto& conn : conns) {
        ConnSlot* slot = slot_of(*conn);
        if (!slot) continue;
        for (const auto& [from, to] : *shared) {
          if (slot->pipeline != from) continue;
          (from->migrate(*conn, to) ? token->moved : token->failed)++;
          break;
        }
      }
    });
  }
  auto deadline = std::chrono::steady_clock::now() + kInitTimeout;
  std::unique_lock lock(wait->mu);
  while (wait->left != 0 && std::chrono::steady_clock::now() < deadline && !is_stopping())
    wait->cv.wait_for(lock, std::chrono::milliseconds(50));
  metrics_.migrations_ok += wait->moved;
  metrics_.migrations_failed += wait->failed;
  std::string out = std::to_string(wait->moved) + " connections moved to the new generation";
  if (wait->failed) out += ", " + std::to_string(wait->failed) + " failed to move (closed)";
  if (wait->left != 0) out += " (" + std::to_string(wait->left) + " loops still moving)";
  return out;
}

void Runtime::release() {
  std::lock_guard lock(reload_mu_);
  for (Switch& sw : switches_) sw.set(nullptr);
  initial_.clear();
  modules_.clear();
  metrics_.set_modules({});
}

ReloadThread::ReloadThread(Runtime& runtime) : runtime_(runtime), thread_([this] { run(); }) {}

ReloadThread::~ReloadThread() {
  shutdown();
}

void ReloadThread::shutdown() {
  {
    std::lock_guard lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ReloadThread::request(std::function<void(const Runtime::Result&)> done) {
  {
    std::lock_guard lock(mu_);
    if (!quit_) {
      queue_.push_back(std::move(done));
      cv_.notify_all();
      return;
    }
  }
  done({false, "the server is stopping"});
}

void ReloadThread::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return quit_ || !queue_.empty(); });
    if (quit_) break;
    // Everyone who asked while the last reload ran shares the next one (a burst of
    // SIGHUPs is one reload, not one each).
    std::deque<std::function<void(const Runtime::Result&)>> asked;
    asked.swap(queue_);
    lock.unlock();
    Runtime::Result r = runtime_.reload();
    for (auto& done : asked) done(r);
    lock.lock();
  }
  for (auto& done : queue_) done({false, "the server is stopping"});
  queue_.clear();
}

}  // namespace gev::host
