// LoadedModule implementation.
#include "loaded_module.h"

#include <dlfcn.h>
#include <gev/event_loop.h>
#include <gev/log.h>

#include <system_error>

#include "host_api.h"

namespace gev::host {

thread_local ModuleScope::Current ModuleScope::current_;

LoadedModule::LoadedModule(boost::dll::shared_library lib, std::filesystem::path source,
                           std::filesystem::path runtime_copy, std::unique_ptr<ModuleHost> host,
                           const gev_module_descriptor* descriptor)
    : lib_(std::move(lib)),
      source_(std::move(source)),
      runtime_copy_(std::move(runtime_copy)),
      host_(std::move(host)),
      descriptor_(descriptor),
      name_(descriptor->name) {
  Dl_info info{};
  if (::dladdr(descriptor, &info) != 0) base_ = info.dli_fbase;
}

std::mutex& dl_mutex() {
  static std::mutex mu;
  return mu;
}

LoadedModule::~LoadedModule() {
  destroy_state();
  {
    std::lock_guard lock(dl_mutex());
    lib_.unload();
  }
  std::error_code ec;
  std::filesystem::remove(runtime_copy_, ec);
}

void LoadedModule::set_loop_count(size_t loops) {
  inited_.assign(loops, 0);
  finished_.assign(loops, 0);
  std::lock_guard lock(timers_mu_);
  loop_timers_.assign(loops, {});
}

void LoadedModule::add_loop_timer(size_t loop_index, uint64_t id) {
  std::lock_guard lock(timers_mu_);
  if (loop_index < loop_timers_.size()) loop_timers_[loop_index].insert(id);
}

void LoadedModule::forget_loop_timer(size_t loop_index, uint64_t id) {
  std::lock_guard lock(timers_mu_);
  if (loop_index < loop_timers_.size()) loop_timers_[loop_index].erase(id);
}

bool LoadedModule::create(const gev_config& config, std::string* error) {
  gev_status st;
  ProblemCapture problem;
  {
    ModuleScope scope(this, true);
    st = descriptor_->create(&host_->api, &config, &state_);
  }
  host_->frozen.store(true, std::memory_order_release);
  if (st != GEV_OK) {
    *error = "create() failed with status " + std::to_string(st) + problem.suffix();
    return false;
  }
  created_ = true;
  return true;
}

bool LoadedModule::init_loop(EventLoop& loop) {
  if (!created_ || loop.index() >= inited_.size()) return false;
  if (descriptor_->loop_init) {
    ModuleScope scope(this, true);
    ProblemCapture problem;
    if (descriptor_->loop_init(state_, reinterpret_cast<gev_loop*>(&loop)) != GEV_OK) {
      GEV_ERROR("module %s: loop_init failed on loop %zu%s", name_.c_str(), loop.index(),
                problem.suffix().c_str());
      return false;
    }
  }
  inited_[loop.index()] = 1;
  return true;
}

void LoadedModule::fini_loop(EventLoop& loop) {
  size_t i = loop.index();
  if (i >= inited_.size()) return;
  if (inited_[i]) {
    inited_[i] = 0;
    if (descriptor_->loop_fini) {
      ModuleScope scope(this, true);
      descriptor_->loop_fini(state_, reinterpret_cast<gev_loop*>(&loop));
    }
  }
  finished_[i] = 1;
  // Also after a failed create or loop_init: whatever per-loop timer it left.
  std::unordered_set<uint64_t> ids;
  {
    std::lock_guard lock(timers_mu_);
    ids.swap(loop_timers_[i]);
  }
  for (uint64_t id : ids) loop.cancel(id);
}

void LoadedModule::destroy_state() {
  if (!created_) return;
  created_ = false;
  ModuleScope scope(this, true);
  descriptor_->destroy(state_);
}

}  // namespace gev::host
