// Runtime: what gev-host serves now (its modules, listeners and their pipelines) and the
// in-process reload that replaces it.
//
// A reload re-reads the command line and config file and rescans the module directory.
// Modules whose file and options are unchanged are kept; the others are opened from a
// fresh private copy, created and initialised on every loop. Nothing running changes
// until all of that has worked. Then each listener's Switch gets its new pipeline (new
// connections take it; open ones keep theirs), new listeners open, removed ones close,
// and the connections left on old pipelines are closed at the drain deadline. Old
// modules unload when nothing refers to them any more (ModuleLifecycle).
#pragma once

#include <gev/server.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "host_options.h"
#include "lifecycle.h"
#include "metrics.h"
#include "module_loader.h"
#include "pipeline.h"
#include "tls_switch.h"

namespace gev::host {

// The path with its device, inode, size and modification time ("" if it cannot be
// stat'ed): what a reload compares to tell whether a file changed (runtime_stage.cc).
std::string file_identity(const std::filesystem::path& f);

class Runtime {
 public:
  // argv is kept (and re-parsed on every reload).
  Runtime(int argc, char** argv, HostOptions options, ModuleLoader& loader,
          ModuleLifecycle& lifecycle, MetricsSource& metrics);

  // Start-up, before server.run(): loads the modules (a broken one is refused with a log
  // line, the rest load), queues loop_init on every loop and resolves every listener's
  // pipeline. False when a listener lacks a module (print *error and exit 1) or when
  // options name a module that is not there (*bad_options: exit 2, an option error).
  bool load(Server& server, std::string* error, bool* bad_options = nullptr);
  // Then adds every listener to the server (inherited_fd(listener): a socket from systemd
  // or a previous gev-host, or -1 to bind).
  void listen(const std::function<std::vector<int>(const ListenerConfig&)>& inherited_fds);

  struct Result {
    bool ok = false;
    std::string message;  // one line or a few: what changed, or why nothing did
  };
  // Reloads on the calling thread, which must not be a loop thread (it waits for every
  // loop to run loop_init). Reloads are serialised.
  Result reload();
  // From the server's stop hook (or a hand-off's drain): later reloads are refused, one
  // in progress gives up.
  void stopping();
  // After the server stopped: lets go of every pipeline and module (they unload now,
  // while the loops still exist).
  void release();
  // sd_notify(state) unless a stop has begun: a service manager must not see READY=1
  // (or RELOADING=1) after STOPPING=1, which the stop hook sends after stopping().
  bool notify_unless_stopping(const std::string& state);

  // Listeners serving now (server index, name): what a hand-off passes on.
  std::vector<std::pair<size_t, std::string>> serving() const;
  const HostOptions& options() const { return options_; }  // reload thread or before run
  // Any thread (a module's dial): the protocol module serving under `name` now, or null.
  std::shared_ptr<LoadedModule> find_protocol(std::string_view name) const;

 private:
  struct Listener {
    ListenerConfig config;
    size_t index;  // in the server
    Switch* sw;
    std::shared_ptr<TlsSwitch> tls;  // its transport factory (holding nothing: plain TCP)
  };
  using ModuleMap = std::map<std::string, std::shared_ptr<LoadedModule>>;
  struct Refusal {
    std::filesystem::path file;
    std::string name;  // the module's name, when it got as far as saying it
    std::string why;
  };
  struct Staged {
    ModuleMap modules;
    std::vector<std::shared_ptr<LoadedModule>> fresh;  // opened by this load
    std::vector<std::shared_ptr<Pipeline>> pipelines;  // per listener in the new options
    std::vector<Refusal> refused;
    bool bad_options = false;  // the options name a module that is not there
  };

  // runtime_stage.cc. Opens what changed, keeps what did not. A file that cannot be loaded, or two that
  // claim one name (unless [module.NAME] file = chooses), is refused with a log line;
  // the load fails only if a listener's module is missing, with the reason it was refused.
  bool stage(const HostOptions& next, uint64_t gen, Staged& out, std::string* error);
  // Opened and ABI-checked, not created yet.
  std::shared_ptr<LoadedModule> open_module(const std::filesystem::path& file,
                                            const std::string& file_id, const HostOptions& next,
                                            uint64_t gen, std::string* error);
  bool create_module(LoadedModule& m, const HostOptions& next, std::string* error);
  std::shared_ptr<Pipeline> pipeline_for(const ListenerConfig& l, const Staged& s,
                                         const std::filesystem::path& module_dir,
                                         std::string* error) const;
  bool init_loops(const std::vector<std::shared_ptr<LoadedModule>>& fresh, std::string* error);
  Switch& new_switch(std::shared_ptr<Pipeline> p);
  // Everything about a listener but what serves it: if this changes, the listener is
  // replaced (opened anew, the old one closed) rather than switched.
  static bool same_socket(const ListenerConfig& a, const ListenerConfig& b);
  // How long a reload waits for a task on every loop (loop_init, moving connections).
  static constexpr std::chrono::seconds kLoopWait{10};

  using Move = std::pair<std::shared_ptr<Pipeline>, std::shared_ptr<Pipeline>>;
  // The reload itself; on success `moves` says which connections are to move.
  Result reload_locked(std::vector<Move>& moves);
  // runtime_swap.cc. Live migration: which running pipelines move their connections to
  // which staged ones (module-wide state is handed over here, before the commit), and
  // the move itself, on every loop; migrate waits until each loop has done it and says
  // what moved, for the reload's message.
  std::vector<Move> plan_moves(const HostOptions& next, const Staged& st);
  std::string migrate(std::vector<Move> moves);
  // After the commit: connections on pipelines reload `gen` retired close at
  // --reload-drain-timeout, after their goodbyes (each reload's deadline covers its own).
  void arm_drain(uint64_t gen);

  std::vector<std::string> args_;
  HostOptions options_;
  ModuleLoader& loader_;
  ModuleLifecycle& lifecycle_;
  MetricsSource& metrics_;
  Server* server_ = nullptr;

  std::mutex reload_mu_;  // one reload at a time; guards what follows
  uint64_t generation_ = 1;
  ModuleMap modules_;
  std::vector<Listener> listeners_;
  std::deque<Switch> switches_;  // every one ever made: the server refers to them
  std::vector<std::shared_ptr<Pipeline>> initial_;  // load() to listen()
  std::vector<std::shared_ptr<TlsSwitch>> initial_tls_;  // the same, per listener

  void publish(const ModuleMap& modules);
  mutable std::mutex published_mu_;  // never held for long: loops read it
  std::shared_ptr<const ModuleMap> published_;  // modules_, for find_protocol

  mutable std::mutex serving_mu_;  // listeners_ as read by serving()
  // stopping_, and what must not interleave with its change: a reload's commit and its
  // RELOADING=1 / READY=1.
  mutable std::mutex state_mu_;
  bool stopping_ = false;
  bool is_stopping() const;
};

}  // namespace gev::host
