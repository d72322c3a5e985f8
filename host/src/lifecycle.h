// ModuleLifecycle: when a module instance is finished, destroyed and unloaded.
//
// adopt() wraps a freshly opened module in the shared_ptr that pipelines, connections,
// timers and tasks copy. When the last copy goes (on any thread), the module retires:
//   1. loop_fini on every loop where loop_init succeeded, each on its own thread (and
//      the per-loop timers it left are cancelled there);
//   2. destroy(state), where the last of those ran;
//   3. one more turn of every loop, so a task the module's own threads posted before
//      destroy() joined them has run; then dlclose, and the private copy is deleted.
// A loop that exits runs loop_fini for every live module itself (loop_exit) and takes no
// further part; once every loop has exited, retirement runs on the releasing thread.
// While any loop is inside loop_exit, retirement steps and unloads wait for it.
#pragma once

#include <gev/event_loop.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "loaded_module.h"

namespace gev::host {

class ModuleLifecycle {
 public:
  ModuleLifecycle() { instance_.store(this); }
  ~ModuleLifecycle();
  ModuleLifecycle(const ModuleLifecycle&) = delete;
  ModuleLifecycle& operator=(const ModuleLifecycle&) = delete;

  // The server's worker loops; before any adopt().
  void set_loops(std::span<EventLoop* const> loops);
  std::span<EventLoop* const> loops() const { return loops_; }

  std::shared_ptr<LoadedModule> adopt(std::unique_ptr<LoadedModule> m);

  // From the server's loop exit hook (on that loop's thread): loop_fini for every live
  // module, and the loop takes no more retirement work.
  void loop_exit(EventLoop& loop);
  // True once loop_exit ran for `loop` (on its thread: a task queued after the exit
  // hook must not loop_init).
  bool exited(const EventLoop& loop) const;
  // After Server::run() returned (or failed): every loop counts as exited.
  void server_stopped();

  // Every instance loaded (including retiring ones), by name and generation.
  struct Instance {
    std::string name;
    uint64_t generation;
    int64_t connections;  // open connections it serves
  };
  std::vector<Instance> instances() const;

  // The live module whose code `fn` is, for a task or timer started outside any host
  // callback (a module's own thread): {module, a reference to it}. The reference is
  // null if it is retiring; both are null if `fn` is no module's.
  std::pair<LoadedModule*, std::shared_ptr<LoadedModule>> owner_of(const void* fn) const;
  // The process's lifecycle (there is one per gev-host), or null.
  static ModuleLifecycle* instance() { return instance_.load(); }

 private:
  struct Retirement;
  std::vector<EventLoop*> running_locked() const;  // loops that have not exited
  void retire(LoadedModule* m);
  void start_step(LoadedModule* m, int step);
  void next_step(LoadedModule* m, int done);
  void unload(LoadedModule* m);

  std::vector<EventLoop*> loops_;
  // Guards what follows. No module code runs under it.
  mutable std::mutex mu_;
  std::vector<LoadedModule*> live_;
  std::vector<bool> exited_;
  bool stopped_ = false;  // server_stopped(): no loop will ever run a task again
  int exiting_ = 0;       // loops inside loop_exit, calling into live modules
  std::vector<std::pair<LoadedModule*, int>> deferred_;  // steps that waited for them
  static inline std::atomic<ModuleLifecycle*> instance_{nullptr};
};

}  // namespace gev::host
