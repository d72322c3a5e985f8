// Runtime implementation: staging (nothing shared changes), then the commit (nothing
// after its first step can fail).
#include "runtime.h"

#include <fcntl.h>
#include <gev/log.h>
#include <gev/tls.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include "host_api.h"
#include "loop_fanout.h"
#include "systemd.h"
#include "tls_switch.h"

namespace gev::host {

namespace {

using ModuleMap = std::map<std::string, std::shared_ptr<LoadedModule>>;

// The ALPN ids a TLS listener offers: what its protocol module speaks, then its own
// tls-alpn, each once.
std::vector<std::string> listener_alpn(const ListenerConfig& l, const ModuleMap& modules) {
  std::vector<std::string> out;
  auto it = modules.find(l.protocol);
  if (it != modules.end()) out = split_list(it->second->alpn());
  for (const std::string& a : l.tls_alpn)
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  return out;
}

// What a listener's TLS was made from: its settings and its files' identities (a
// reload re-reads the files only when this changes). Empty: plain TCP.
std::string tls_identity(const ListenerConfig& l, const ModuleMap& modules) {
  if (l.tls_cert.empty() && l.tls_key.empty()) return "";
  std::string out = l.tls_min_version + "|" + l.tls_ciphers + "|" + l.tls_ciphersuites + "|" +
                    l.tls_client_verify + "|" + std::to_string(l.tls_ticket_rotation_s) + "|" +
                    (l.tls_ktls ? "ktls|" : "|");
  for (const std::string& a : listener_alpn(l, modules)) out += a + ",";
  std::vector<std::string> files = split_list(l.tls_cert), keys = split_list(l.tls_key);
  files.insert(files.end(), keys.begin(), keys.end());
  files.push_back(l.tls_chain);
  files.push_back(l.tls_client_ca);
  for (const std::string& f : files) out += "|" + f + "|" + file_identity(f);
  return out;
}

// The listener's TLS transport (null: plain TCP). False, with *error naming the listener,
// the file and the reason, if its settings do not load.
bool tls_transport(const ListenerConfig& l, const ModuleMap& modules, const TlsSwitch& sw,
                   std::shared_ptr<TransportFactory>* out, std::string* error) {
  out->reset();
  if (l.tls_cert.empty() && l.tls_key.empty()) return true;
  std::vector<std::string> certs = split_list(l.tls_cert), keys = split_list(l.tls_key);
  if (certs.size() != keys.size() || certs.empty()) {
    *error = "listener '" + l.name + "': tls-cert names " + std::to_string(certs.size()) +
             " certificate(s) and tls-key " + std::to_string(keys.size()) + " key(s)";
    return false;
  }
  gev::tls::Settings s;
  s.cert_file = certs[0];
  s.key_file = keys[0];
  for (size_t i = 1; i < certs.size(); ++i) s.more_certificates.emplace_back(certs[i], keys[i]);
  s.chain_file = l.tls_chain;
  s.min_version = l.tls_min_version;
  s.ciphers = l.tls_ciphers;
  s.ciphersuites = l.tls_ciphersuites;
  s.alpn = listener_alpn(l, modules);
  s.client_ca_file = l.tls_client_ca;
  s.client_verify = l.tls_client_verify;
  s.ticket_rotation = std::chrono::seconds(l.tls_ticket_rotation_s);
  *out = gev::tls::server(s, error, sw.context());
  if (*out && l.tls_ktls) {
    // Asked for kernel TLS: say plainly what this listener gets (docs/transport.md).
    std::string why;
    if (gev::tls::kernel_tls_available(&why))
      GEV_WARN("listener %s: tls-ktls: the kernel offers TLS offload, but this build keeps "
               "TLS in user space (its transport works on memory buffers, not the socket)",
               l.name.c_str());
    else
      GEV_INFO("listener %s: tls-ktls: no kernel TLS here (%s); TLS stays in user space",
               l.name.c_str(), why.c_str());
  }
  if (*out) return true;
  *error = "listener '" + l.name + "': " + *error;
  return false;
}

gev::Options listener_options(const ListenerConfig& l, size_t loops) {
  gev::Options so;
  so.address = l.listen;
  so.name = "listener " + l.name;
  so.loops = loops;
  so.reuse_port = l.reuse_port;
  so.idle_timeout = std::chrono::milliseconds(l.idle_timeout_ms);
  so.max_connections = l.max_connections;
  so.handshake_timeout = std::chrono::milliseconds(l.tls_handshake_timeout_ms);
  if (l.udp()) {
    so.network = gev::Network::kUdp;
    so.reuse_port = false;  // (a UDP listener is a socket per loop anyway)
    so.idle_timeout = std::chrono::milliseconds(l.udp_idle_timeout_ms);
    so.max_connections = l.udp_max_peers;
    so.max_datagram = l.udp_max_datagram;
  }
  return so;
}

uint64_t monotonic_usec() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

bool Runtime::same_socket(const ListenerConfig& a, const ListenerConfig& b) {
  return a.listen == b.listen && a.reuse_port == b.reuse_port &&
         a.idle_timeout_ms == b.idle_timeout_ms && a.max_connections == b.max_connections &&
         a.transport == b.transport && a.udp_idle_timeout_ms == b.udp_idle_timeout_ms &&
         a.udp_max_peers == b.udp_max_peers && a.udp_max_datagram == b.udp_max_datagram;
}

Runtime::Runtime(int argc, char** argv, HostOptions options, ModuleLoader& loader,
                 ModuleLifecycle& lifecycle, MetricsSource& metrics)
    : args_(argv, argv + argc),
      options_(std::move(options)),
      loader_(loader),
      lifecycle_(lifecycle),
      metrics_(metrics) {}

Switch& Runtime::new_switch(std::shared_ptr<Pipeline> p) {
  return switches_.emplace_back(std::move(p));
}

bool Runtime::load(Server& server, std::string* error, bool* bad_options) {
  server_ = &server;
  lifecycle_.set_loops(server.loops());
  Staged st;
  if (!stage(options_, generation_, st, error)) {
    if (bad_options) *bad_options = st.bad_options;
    return false;
  }
  initial_tls_.clear();
  for (const ListenerConfig& l : options_.listeners) {
    auto sw = std::make_shared<TlsSwitch>();
    std::shared_ptr<TransportFactory> t;
    if (!tls_transport(l, st.modules, *sw, &t, error)) {
      if (bad_options) *bad_options = true;  // a setting that does not work: exit 2
      return false;
    }
    sw->set(std::move(t), tls_identity(l, st.modules));
    initial_tls_.push_back(std::move(sw));
  }
  modules_ = st.modules;
  publish(modules_);
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

void Runtime::listen(const std::function<std::vector<int>(const ListenerConfig&)>& inherited_fds) {
  for (size_t i = 0; i < options_.listeners.size(); ++i) {
    const ListenerConfig& l = options_.listeners[i];
    Switch& sw = new_switch(initial_[i]);
    gev::Options lo = listener_options(l, lifecycle_.loops().size());
    std::vector<int> fds = inherited_fds(l);
    if (l.udp()) {
      lo.listen_fds = fds;  // every socket of the group
    } else {
      lo.transport = initial_tls_[i];
      lo.listen_fd = fds.empty() ? -1 : fds[0];
    }
    size_t index = server_->add_listener(sw, lo, &sw);
    listeners_.push_back({l, index, &sw, initial_tls_[i]});
    metrics_.add_listener(l.name, initial_tls_[i]->context());
    GEV_INFO("listener %s: %s over %s%s on %s", l.name.c_str(), l.handler.c_str(),
             l.protocol.c_str(), l.tls_cert.empty() ? "" : " over TLS", l.listen.c_str());
  }
  initial_.clear();
  initial_tls_.clear();
}

bool Runtime::init_loops(const std::vector<std::shared_ptr<LoadedModule>>& fresh,
                         std::string* error) {
  if (fresh.empty()) return true;
  using Failed = std::vector<std::string>;  // "module on loop N"
  Fanout<Failed> run = run_on_every_loop<Failed>(
      lifecycle_.loops(),
      [this, fresh](EventLoop& loop) -> std::optional<Failed> {
        if (lifecycle_.exited(loop)) return std::nullopt;  // too late: the stop finished it
        Failed failed;
        for (const auto& m : fresh)
          if (!m->init_loop(loop))
            failed.push_back(m->name() + " on loop " + std::to_string(loop.index()));
        return failed;
      },
      kLoopWait, [this] { return is_stopping(); });
  if (run.end != Fanout<Failed>::End::kDone) {
    *error = run.end == Fanout<Failed>::End::kStopping
                 ? "the server is stopping"
                 : "loop_init did not finish on every loop within 10 s";
    return false;
  }
  Failed failed;
  for (size_t i = 0; i < run.results.size(); ++i) {
    if (!run.results[i])
      failed.push_back("every module on loop " + std::to_string(lifecycle_.loops()[i]->index()) +
                       " (stopping)");
    else
      failed.insert(failed.end(), run.results[i]->begin(), run.results[i]->end());
  }
  if (failed.empty()) return true;
  *error = "loop_init failed: " + failed.front();
  if (failed.size() > 1) *error += " (and " + std::to_string(failed.size() - 1) + " more)";
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
  std::vector<Move> moves;
  Result r = reload_locked(moves);
  // Once the commit is over: the open connections of adopting handlers move.
  if (r.ok && !moves.empty()) r.message += "; " + migrate(std::move(moves));
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

Runtime::Result Runtime::reload_locked(std::vector<Move>& moves) {
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

  // Live migration, planned (module-wide state handed over) before anything changes.
  moves = plan_moves(next, st);

  // Bind the listeners that are new, or whose socket settings changed, without
  // accepting yet. One on an address a listener on its way out serves shares that
  // socket (a dup): nothing queued in its backlog is lost.
  std::vector<Listener> serving;
  struct TlsSwap {
    std::shared_ptr<TlsSwitch> to;
    std::shared_ptr<TransportFactory> factory;
    std::string identity, listener;
  };
  std::vector<TlsSwap> tls_swaps;  // kept listeners whose TLS changed
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
      // Kept, and its TLS re-read if its settings or files changed (new handshakes only).
      std::string identity = tls_identity(l, st.modules);
      if (identity != cur->tls->identity()) {
        std::shared_ptr<TransportFactory> t;
        std::string tls_error;
        if (!tls_transport(l, st.modules, *cur->tls, &t, &tls_error)) {
          close_opened();
          return {false, tls_error};
        }
        tls_swaps.push_back({cur->tls, std::move(t), std::move(identity), l.name});
      }
      serving.push_back({l, cur->index, cur->sw, cur->tls});
      continue;
    }
    int fd = -1;
    std::vector<int> udp_fds;
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
      if (l.udp()) {  // the whole group: datagrams queued in it are not lost
        for (int old : server_->listen_fds(x.index))
          if (int d = ::fcntl(old, F_DUPFD_CLOEXEC, 0); d >= 0) udp_fds.push_back(d);
        break;
      }
      int old = server_->listen_fd(x.index);  // -1 with reuseport: a new group is bound
      if (old >= 0) fd = ::fcntl(old, F_DUPFD_CLOEXEC, 0);
      break;
    }
    Switch& sw = new_switch(st.pipelines[i]);
    gev::Options lo = listener_options(l, lifecycle_.loops().size());
    lo.listen_fd = fd;
    lo.listen_fds = udp_fds;
    auto close_fds = [&] {
      if (fd >= 0) ::close(fd);
      for (int d : udp_fds) ::close(d);
    };
    std::string tls_error;
    std::shared_ptr<TransportFactory> t;
    auto tls = std::make_shared<TlsSwitch>();
    if (!tls_transport(l, st.modules, *tls, &t, &tls_error)) {
      close_fds();
      sw.set(nullptr);
      close_opened();
      return {false, tls_error};
    }
    tls->set(std::move(t), tls_identity(l, st.modules));
    if (!l.udp()) lo.transport = tls;
    try {
      size_t index = server_->add_listener_paused(sw, lo, &sw);
      metrics_.add_listener(l.name, tls->context());  // by server index, used or not
      opened.push_back({l, index, &sw, tls});
      serving.push_back({l, index, &sw, tls});
    } catch (const std::exception& e) {
      close_fds();
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
  for (TlsSwap& s : tls_swaps) {
    GEV_INFO("reload %llu: listener %s: TLS %s for new connections",
             static_cast<unsigned long long>(gen), s.listener.c_str(),
             s.factory ? "settings and certificates re-read" : "off");
    s.to->set(std::move(s.factory), std::move(s.identity));
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
  for (const auto& [name, m] : modules_) {  // replaced or gone: dials no more, drains
    bool kept_on = false;
    for (const auto& [n2, m2] : st.modules) kept_on = kept_on || m2 == m;
    uint64_t none = 0;
    if (!kept_on && m->retired_by.compare_exchange_strong(none, gen) &&
        m->host().open_conns.load() > 0)
      retired_any = true;
  }
  old_modules = std::move(modules_);
  modules_ = std::move(st.modules);
  publish(modules_);
  metrics_.set_modules(modules_);
  generation_ = gen;
  options_ = std::move(next);
  set_log_level(options_.log_level);
  metrics_.generation = gen;

  if (retired_any && options_.reload_drain_timeout_ms != 0) arm_drain(gen);
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

void Runtime::publish(const ModuleMap& modules) {
  auto snapshot = std::make_shared<const ModuleMap>(modules);
  std::lock_guard lock(published_mu_);
  published_ = std::move(snapshot);
}

std::shared_ptr<LoadedModule> Runtime::find_protocol(std::string_view name) const {
  std::shared_ptr<const ModuleMap> m;
  {
    std::lock_guard lock(published_mu_);
    m = published_;
  }
  if (!m) return nullptr;
  auto it = m->find(std::string(name));
  return it != m->end() && it->second->is_protocol() ? it->second : nullptr;
}

void Runtime::release() {
  std::lock_guard lock(reload_mu_);
  publish({});
  for (Switch& sw : switches_) sw.set(nullptr);
  initial_.clear();
  modules_.clear();
  metrics_.set_modules({});
}

}  // namespace gev::host
