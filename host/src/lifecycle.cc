// ModuleLifecycle implementation. A Retirement is shared by the tasks of one step (one
// per running loop); its destructor runs when the last of them has run, or has been
// discarded by a stopped loop, and starts the next step.
#include "lifecycle.h"

#include <gev/log.h>

#include <algorithm>

namespace gev::host {

namespace {
enum Step { kFini, kBarrier };
}

struct ModuleLifecycle::Retirement {
  Retirement(ModuleLifecycle& l, LoadedModule* m, int s) : lifecycle(l), module(m), step(s) {}
  ~Retirement() { lifecycle.next_step(module, step); }
  ModuleLifecycle& lifecycle;
  LoadedModule* module;
  int step;
};

ModuleLifecycle::~ModuleLifecycle() {
  std::lock_guard lock(mu_);
  for (LoadedModule* m : live_)
    GEV_WARN("module %s (generation %llu) still referenced at exit", m->name().c_str(),
             static_cast<unsigned long long>(m->generation));
}

void ModuleLifecycle::set_loops(std::span<EventLoop* const> loops) {
  std::lock_guard lock(mu_);
  loops_.assign(loops.begin(), loops.end());
  exited_.assign(loops_.size(), false);
}

std::shared_ptr<LoadedModule> ModuleLifecycle::adopt(std::unique_ptr<LoadedModule> m) {
  {
    std::lock_guard lock(mu_);
    live_.push_back(m.get());
  }
  return std::shared_ptr<LoadedModule>(m.release(), [this](LoadedModule* p) { retire(p); });
}

std::vector<EventLoop*> ModuleLifecycle::running() const {
  std::lock_guard lock(mu_);
  std::vector<EventLoop*> out;
  for (size_t i = 0; i < loops_.size(); ++i)
    if (!exited_[i]) out.push_back(loops_[i]);
  return out;
}

void ModuleLifecycle::retire(LoadedModule* m) {
  GEV_DEBUG("module %s (generation %llu): no longer referenced, retiring", m->name().c_str(),
            static_cast<unsigned long long>(m->generation));
  {
    std::lock_guard lock(mu_);
    if (exiting_ > 0) {  // released by module code inside loop_exit, on that thread
      deferred_.push_back(m);
      return;
    }
  }
  start_retirement(m);
}

void ModuleLifecycle::start_retirement(LoadedModule* m) {
  std::vector<EventLoop*> loops = running();
  if (loops.empty()) {  // every loop has run its loop_fini already
    next_step(m, kFini);
    return;
  }
  auto round = std::make_shared<Retirement>(*this, m, kFini);
  for (EventLoop* loop : loops)
    loop->queue_in_loop([round, loop] { round->module->fini_loop(*loop); });
  // `round` dies with the last of its tasks (maybe already, as this returns: no lock is
  // held here, so destroy() may run on this thread).
}

// Step `done` has run on every loop that was running.
void ModuleLifecycle::next_step(LoadedModule* m, int done) {
  if (done == kFini) {
    m->destroy_state();
    std::vector<EventLoop*> loops = running();
    if (!loops.empty()) {
      auto round = std::make_shared<Retirement>(*this, m, kBarrier);
      for (EventLoop* loop : loops) loop->queue_in_loop([round] {});
      return;
    }
  }
  unload(m);
}

void ModuleLifecycle::unload(LoadedModule* m) {
  {
    std::lock_guard lock(mu_);
    live_.erase(std::remove(live_.begin(), live_.end(), m), live_.end());
  }
  GEV_INFO("unloaded module %s (generation %llu) from %s", m->name().c_str(),
           static_cast<unsigned long long>(m->generation), m->source().c_str());
  delete m;
}

void ModuleLifecycle::loop_exit(EventLoop& loop) {
  std::vector<LoadedModule*> deferred;
  {
    std::lock_guard lock(mu_);
    if (loop.index() < exited_.size()) exited_[loop.index()] = true;
    ++exiting_;  // a module released meanwhile waits in deferred_: none is unloaded
    std::vector<LoadedModule*> live = live_;
    for (LoadedModule* m : live) m->fini_loop(loop);
    --exiting_;
    deferred.swap(deferred_);
  }
  for (LoadedModule* m : deferred) start_retirement(m);
}

bool ModuleLifecycle::exited(const EventLoop& loop) const {
  std::lock_guard lock(mu_);
  return loop.index() < exited_.size() && exited_[loop.index()];
}

void ModuleLifecycle::server_stopped() {
  std::lock_guard lock(mu_);
  exited_.assign(loops_.size(), true);
}

std::map<std::string, size_t> ModuleLifecycle::live() const {
  std::lock_guard lock(mu_);
  std::map<std::string, size_t> out;
  for (const LoadedModule* m : live_) ++out[m->name()];
  return out;
}

}  // namespace gev::host
