// ModuleLifecycle implementation. A Retirement is shared by the tasks of one round (one
// per loop); its destructor runs when the last of them has run or been discarded by an
// exited loop, and starts the next step.
#include "lifecycle.h"

#include <gev/log.h>

#include <algorithm>

namespace gev::host {

struct ModuleLifecycle::Retirement {
  enum Step { kFini, kBarrier };
  Retirement(ModuleLifecycle& l, LoadedModule* m, Step s) : lifecycle(l), module(m), step(s) {}
  ~Retirement() {
    if (step == kFini) {
      module->destroy_state();
      lifecycle.queue_round(module, kBarrier);
    } else {
      lifecycle.unload(module);
    }
  }
  ModuleLifecycle& lifecycle;
  LoadedModule* module;
  Step step;
};

ModuleLifecycle::~ModuleLifecycle() {
  std::lock_guard lock(mu_);
  for (LoadedModule* m : live_)
    GEV_WARN("module %s (generation %llu) still referenced at exit", m->name().c_str(),
             static_cast<unsigned long long>(m->generation));
}

void ModuleLifecycle::set_loops(std::span<EventLoop* const> loops) {
  loops_.assign(loops.begin(), loops.end());
}

std::shared_ptr<LoadedModule> ModuleLifecycle::adopt(std::unique_ptr<LoadedModule> m) {
  {
    std::lock_guard lock(mu_);
    live_.push_back(m.get());
  }
  return std::shared_ptr<LoadedModule>(m.release(), [this](LoadedModule* p) { retire(p); });
}

void ModuleLifecycle::retire(LoadedModule* m) {
  GEV_DEBUG("module %s (generation %llu): no longer referenced, retiring", m->name().c_str(),
            static_cast<unsigned long long>(m->generation));
  queue_round(m, Retirement::kFini);
}

void ModuleLifecycle::queue_round(LoadedModule* m, int step) {
  std::unique_lock lock(mu_);
  if (stopped_) {
    // No loop runs any more (each ran loop_fini for every live module as it exited, and
    // may already be destroyed): finish here.
    lock.unlock();
    m->destroy_state();
    unload(m);
    return;
  }
  auto round = std::make_shared<Retirement>(*this, m, static_cast<Retirement::Step>(step));
  for (EventLoop* loop : loops_)
    loop->queue_in_loop([round, loop] {
      if (round->step == Retirement::kFini) round->module->fini_loop(*loop);
    });
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
  std::lock_guard lock(mu_);
  for (LoadedModule* m : live_) m->fini_loop(loop);
}

void ModuleLifecycle::server_stopped() {
  std::lock_guard lock(mu_);
  stopped_ = true;
}

std::map<std::string, size_t> ModuleLifecycle::live() const {
  std::lock_guard lock(mu_);
  std::map<std::string, size_t> out;
  for (const LoadedModule* m : live_) ++out[m->name()];
  return out;
}

}  // namespace gev::host
