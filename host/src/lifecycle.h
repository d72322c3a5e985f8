// ModuleLifecycle: when a module instance is finished, destroyed and unloaded.
//
// adopt() wraps a freshly opened module in the shared_ptr that pipelines, connections,
// timers and tasks copy. When the last copy goes (on any thread), the module retires:
//   1. loop_fini on every loop where loop_init succeeded, each on its own thread;
//   2. destroy(state), where the last of those ran;
//   3. one more turn of every loop, so a task the module's own threads posted before
//      destroy() joined them has run; then dlclose and the private copy is deleted.
// A loop that exits first finishes every live module itself (loop_exit), and once the
// server has stopped (server_stopped) retirement runs inline on the releasing thread.
#pragma once

#include <gev/event_loop.h>

#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "loaded_module.h"

namespace gev::host {

class ModuleLifecycle {
 public:
  ModuleLifecycle() = default;
  ~ModuleLifecycle();
  ModuleLifecycle(const ModuleLifecycle&) = delete;
  ModuleLifecycle& operator=(const ModuleLifecycle&) = delete;

  // The server's worker loops; before any adopt().
  void set_loops(std::span<EventLoop* const> loops);
  std::span<EventLoop* const> loops() const { return loops_; }

  std::shared_ptr<LoadedModule> adopt(std::unique_ptr<LoadedModule> m);

  // From the server's loop exit hook (on that loop's thread).
  void loop_exit(EventLoop& loop);
  // After Server::run() returned (every loop thread has ended).
  void server_stopped();

  // Instances loaded (including retiring ones), per module name.
  std::map<std::string, size_t> live() const;

 private:
  struct Retirement;
  void retire(LoadedModule* m);
  void queue_round(LoadedModule* m, int step);
  void unload(LoadedModule* m);

  std::vector<EventLoop*> loops_;
  // Guards live_ and stopped_. Recursive: module code run under it (loop_fini) may drop
  // the last reference to another module.
  mutable std::recursive_mutex mu_;
  std::vector<LoadedModule*> live_;
  bool stopped_ = false;
};

}  // namespace gev::host
