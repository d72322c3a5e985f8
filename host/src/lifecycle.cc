// ModuleLifecycle implementation. A Retirement is shared by the tasks of one step (one
// per running loop); its destructor runs when the last of them has run, or has been
// discarded by a stopped loop, and starts the next step.
#include "lifecycle.h"

#include <gev/log.h>

#include <dlfcn.h>

#include <algorithm>
#include <tuple>

#include "host_api.h"

namespace gev::host {

namespace {
enum Step { kFini, kBarrier, kUnload };
}

struct ModuleLifecycle::Retirement {
  Retirement(ModuleLifecycle& l, LoadedModule* m, int s) : lifecycle(l), module(m), step(s) {}
  ~Retirement() { lifecycle.next_step(module, step); }
  ModuleLifecycle& lifecycle;
  LoadedModule* module;
  int step;
};

ModuleLifecycle::~ModuleLifecycle() {
  instance_.store(nullptr);
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
    m->set_loop_count(loops_.size());  // before any loop_exit can see it
    live_.push_back(m.get());
  }
  return std::shared_ptr<LoadedModule>(m.release(), [this](LoadedModule* p) { retire(p); });
}

std::vector<EventLoop*> ModuleLifecycle::running_locked() const {
  std::vector<EventLoop*> out;
  for (size_t i = 0; i < loops_.size(); ++i)
    if (!exited_[i]) out.push_back(loops_[i]);
  return out;
}

void ModuleLifecycle::retire(LoadedModule* m) {
  GEV_DEBUG("module %s (generation %llu): no longer referenced, retiring", m->name().c_str(),
            static_cast<unsigned long long>(m->generation));
  start_step(m, kFini);
}

// Starts `step` on every running loop; its last task (or its discarding) runs the next.
// While a loop is in loop_exit it may be calling into any live module, so nothing
// starts then: the last loop out of loop_exit picks it up.
void ModuleLifecycle::start_step(LoadedModule* m, int step) {
  std::vector<EventLoop*> loops;
  {
    std::lock_guard lock(mu_);
    if (exiting_ > 0) {
      deferred_.emplace_back(m, step);
      return;
    }
    // loop_fini goes to the loops that have not run it in loop_exit; the barrier to every
    // loop until the server has stopped (one that exited may still run the rest of its
    // last batch of tasks; one that quit discards the barrier in ~Server, which counts).
    if (step == kFini)
      loops = running_locked();
    else if (!stopped_)
      loops = loops_;
  }
  if (loops.empty()) {  // no loop runs any more (each ran its loop_fini as it exited)
    next_step(m, step);
    return;
  }
  auto round = std::make_shared<Retirement>(*this, m, step);
  for (EventLoop* loop : loops)
    loop->queue_in_loop([round, loop] {
      if (round->step == kFini) round->module->fini_loop(*loop);
      // kBarrier: nothing; a task the module's threads posted before this ran first.
    });
  // `round` dies with the last of its tasks (maybe already, as this returns: no lock is
  // held here, so destroy() may run on this thread).
}

// Step `done` has run on every loop that was running.
void ModuleLifecycle::next_step(LoadedModule* m, int done) {
  if (done == kFini) {
    m->destroy_state();
    start_step(m, kBarrier);
  } else {
    unload(m);
  }
}

void ModuleLifecycle::unload(LoadedModule* m) {
  {
    std::lock_guard lock(mu_);
    if (exiting_ > 0) {  // a loop_exit may be reading it
      deferred_.emplace_back(m, kUnload);
      return;
    }
    live_.erase(std::remove(live_.begin(), live_.end(), m), live_.end());
  }
  GEV_INFO("unloaded module %s (generation %llu) from %s", m->name().c_str(),
           static_cast<unsigned long long>(m->generation), m->source().c_str());
  delete m;
}

void ModuleLifecycle::loop_exit(EventLoop& loop) {
  std::vector<LoadedModule*> live;
  {
    std::lock_guard lock(mu_);
    if (loop.index() < exited_.size()) exited_[loop.index()] = true;
    ++exiting_;  // pins every live module: none starts a step or unloads meanwhile
    live = live_;
  }
  for (LoadedModule* m : live) m->fini_loop(loop);  // no lock held: module code
  std::vector<std::pair<LoadedModule*, int>> deferred;
  {
    std::lock_guard lock(mu_);
    if (--exiting_ == 0) deferred.swap(deferred_);
  }
  for (auto [m, step] : deferred) {
    if (step == kUnload)
      unload(m);
    else
      start_step(m, step);
  }
}

bool ModuleLifecycle::exited(const EventLoop& loop) const {
  std::lock_guard lock(mu_);
  return loop.index() < exited_.size() && exited_[loop.index()];
}

void ModuleLifecycle::server_stopped() {
  std::lock_guard lock(mu_);
  exited_.assign(loops_.size(), true);
  stopped_ = true;
}

std::pair<LoadedModule*, std::shared_ptr<LoadedModule>> ModuleLifecycle::owner_of(
    const void* fn) const {
  Dl_info info{};
  if (!fn || ::dladdr(fn, &info) == 0 || !info.dli_fbase) return {nullptr, nullptr};
  std::lock_guard lock(mu_);
  for (LoadedModule* m : live_)
    if (m->base() == info.dli_fbase) return {m, m->weak_from_this().lock()};
  return {nullptr, nullptr};
}

std::vector<ModuleLifecycle::Instance> ModuleLifecycle::instances() const {
  std::lock_guard lock(mu_);
  std::vector<Instance> out;
  for (const LoadedModule* m : live_)
    out.push_back({m->name(), m->generation, m->host().open_conns.load(std::memory_order_relaxed)});
  std::sort(out.begin(), out.end(), [](const Instance& a, const Instance& b) {
    return std::tie(a.name, a.generation) < std::tie(b.name, b.generation);
  });
  return out;
}

}  // namespace gev::host
