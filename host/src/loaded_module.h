// LoadedModule: one module .so opened by the host, its descriptor, its state, and the
// per-module host table it was handed. Its lifetime is managed by ModuleLifecycle: the
// shared_ptr everyone holds (pipelines, connections, timers, tasks) retires it when the
// last copy goes, and only then is it finished on every loop, destroyed and unloaded.
#pragma once

#ifndef BOOST_DLL_USE_STD_FS
#define BOOST_DLL_USE_STD_FS  // std::filesystem, not boost::filesystem
#endif
#include <gev/sdk/gev_module.h>

#include <boost/dll/shared_library.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace gev {
class EventLoop;
}

namespace gev::host {

struct ModuleHost;  // the gev_host behind the module's handle (host_api.h)

class LoadedModule : public std::enable_shared_from_this<LoadedModule> {
 public:
  LoadedModule(boost::dll::shared_library lib, std::filesystem::path source,
               std::filesystem::path runtime_copy, std::unique_ptr<ModuleHost> host,
               const gev_module_descriptor* descriptor);
  ~LoadedModule();  // destroy_state() if still owed, then the library is unmapped
  LoadedModule(const LoadedModule&) = delete;
  LoadedModule& operator=(const LoadedModule&) = delete;

  const std::string& name() const { return name_; }
  const std::filesystem::path& source() const { return source_; }
  const gev_module_descriptor& descriptor() const { return *descriptor_; }
  bool is_protocol() const {
    return (descriptor_->kind & GEV_MODULE_PROTOCOL) && descriptor_->protocol;
  }
  bool is_handler() const {
    return (descriptor_->kind & GEV_MODULE_HANDLER) && descriptor_->handler;
  }
  void* state() const { return state_; }
  ModuleHost& host() const { return *host_; }

  // create(config); false (with `error` set) if the module refused.
  bool create(const gev_config& config, std::string* error);
  // loop_init on `loop` (its own thread): true when it succeeded or there is none.
  bool init_loop(EventLoop& loop);
  // loop_fini on `loop` (its own thread, or any once the loops stopped) if init_loop
  // succeeded there and it has not run yet; then cancels the timers the module started
  // there outside a connection's or a task's scope (its per-loop timers).
  void fini_loop(EventLoop& loop);
  // destroy(state), once, after every fini_loop.
  void destroy_state();

  // Which generation (reload) loaded it, and what the file and options were: a reload
  // keeps a module whose identity has not changed.
  uint64_t generation = 0;
  std::string identity;
  // Timer ids started per loop while the module ran without a hold (create, loop_init):
  // cancelled after loop_fini. Each vector is touched only on its loop's thread.
  std::vector<std::vector<uint64_t>> loop_timers;

 private:
  boost::dll::shared_library lib_;
  std::filesystem::path source_;
  std::filesystem::path runtime_copy_;
  std::unique_ptr<ModuleHost> host_;
  const gev_module_descriptor* descriptor_;
  std::string name_;
  void* state_ = nullptr;
  bool created_ = false;
  std::vector<uint8_t> inited_;  // per loop: loop_init succeeded, loop_fini owed
};

// While a host callback runs module code on this thread: which module, and whether
// timers and tasks it starts hold a reference to it (not during create, loop_init,
// loop_fini or destroy: the module's own teardown cancels those).
class ModuleScope {
 public:
  ModuleScope(LoadedModule* m, bool hold) : saved_(current_) { current_ = {m, hold}; }
  ~ModuleScope() { current_ = saved_; }
  ModuleScope(const ModuleScope&) = delete;
  ModuleScope& operator=(const ModuleScope&) = delete;

  static LoadedModule* module() { return current_.module; }
  // A reference for a timer or task being started now, or null (no hold).
  static std::shared_ptr<LoadedModule> hold() {
    return current_.hold && current_.module ? current_.module->weak_from_this().lock() : nullptr;
  }

 private:
  struct Current {
    LoadedModule* module = nullptr;
    bool hold = false;
  };
  static thread_local Current current_;
  Current saved_;
};

}  // namespace gev::host
