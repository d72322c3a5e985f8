// LoadedModule: one module .so opened by the host, its descriptor, its state, and the
// per-module host table it was handed. Its lifetime is managed by ModuleLifecycle: the
// shared_ptr everyone holds (pipelines, connections, timers, tasks) retires it when the
// last copy goes, and only then is it finished on every loop, destroyed and unloaded.
#pragma once

#ifndef BOOST_DLL_USE_STD_FS
#define BOOST_DLL_USE_STD_FS  // std::filesystem, not boost::filesystem
#endif
#include <cstddef>
#include <gev/sdk/gev_module.h>

#include <boost/dll/shared_library.hpp>
#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

namespace gev {
class EventLoop;
}

namespace gev::host {

struct ModuleHost;  // the gev_host behind the module's handle (host_api.h)

// Held around every dlopen (with the module's gev_module_entry) and dlclose of a module.
// The dynamic linker serializes them too, but invisibly to ThreadSanitizer: a new copy
// mapped where a retired one was would otherwise look like a race on the old copy's
// globals (TSan saw one on the C++ SDK's host_api pointer under a reload).
std::mutex& dl_mutex();

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
  // ABI 1.5: its protocol serves UDP listeners (GEV_PROTOCOL_DATAGRAMS).
  bool serves_datagrams() const {
    const gev_module_descriptor* d = descriptor_;
    return is_protocol() && d->abi_minor >= 5 &&
           d->size >= offsetof(gev_module_descriptor, protocol_flags) + sizeof(d->protocol_flags) &&
           (d->protocol_flags & GEV_PROTOCOL_DATAGRAMS) != 0;
  }
  // ABI 1.3: the ALPN ids its protocol speaks ("http/1.1"); empty if it names none.
  std::string alpn() const {
    const gev_protocol_vtable* p = is_protocol() ? descriptor_->protocol : nullptr;
    if (!p || p->size < offsetof(gev_protocol_vtable, alpn) + sizeof(p->alpn) || !p->alpn)
      return "";
    return p->alpn;
  }
  void* state() const { return state_; }
  // Where the library is mapped: code at an address inside it is this module's.
  const void* base() const { return base_; }
  ModuleHost& host() const { return *host_; }
  // The reload that replaced it (0 while it serves new connections): it may dial no more,
  // and its outbound connections close at that reload's drain deadline.
  std::atomic<uint64_t> retired_by{0};

  // Sizes the per-loop state (ModuleLifecycle::adopt, before anything else uses it).
  void set_loop_count(size_t loops);
  // create(config); false (with `error` set) if the module refused.
  bool create(const gev_config& config, std::string* error);
  // loop_init on `loop` (its own thread): true when it succeeded or there is none.
  bool init_loop(EventLoop& loop);
  // loop_fini on `loop` (on its own thread) if init_loop
  // succeeded there and it has not run yet; then cancels the timers the module started
  // there outside a connection's or a task's scope (its per-loop timers).
  void fini_loop(EventLoop& loop);
  // destroy(state), once, after every fini_loop.
  void destroy_state();
  // fini_loop ran for `loop_index` (on that loop's thread): its tasks and timers still
  // queued there are skipped.
  bool finished_on(size_t loop_index) const {
    return loop_index < finished_.size() && finished_[loop_index];
  }

  // Per loop, the pending timers that belong to the module's per-loop state rather than
  // to one piece of work: repeating ones, and any started during create, loop_init or
  // their ticks. They do not keep the module loaded; fini_loop cancels them after
  // loop_fini.
  void add_loop_timer(size_t loop_index, uint64_t id);
  void forget_loop_timer(size_t loop_index, uint64_t id);

  // Which generation (reload) loaded it, and what the file and options were: a reload
  // keeps a module whose identity has not changed.
  uint64_t generation = 0;
  std::string identity;

 private:
  boost::dll::shared_library lib_;
  std::filesystem::path source_;
  std::filesystem::path runtime_copy_;
  std::unique_ptr<ModuleHost> host_;
  const gev_module_descriptor* descriptor_;
  std::string name_;
  void* state_ = nullptr;
  const void* base_ = nullptr;
  bool created_ = false;
  std::vector<uint8_t> inited_;    // per loop: loop_init succeeded, loop_fini owed
  std::vector<uint8_t> finished_;  // per loop: fini_loop ran
  std::mutex timers_mu_;           // create runs off the loops: loop_timers_ is shared
  std::vector<std::unordered_set<uint64_t>> loop_timers_;
};

// While a host callback runs module code on this thread: which module, and whether it
// is the module's per-loop setup or teardown (create, loop_init, loop_fini, destroy, a
// per-loop timer's tick) rather than work for a connection or a task.
//   - A task it posts keeps the module loaded until the task has run.
//   - A one-shot timer started outside setup keeps it loaded until it fires or is
//     cancelled. Repeating timers, and timers started in setup, are per-loop state:
//     they keep nothing loaded and are cancelled after loop_fini (else a repeating
//     timer would hold its module forever, and loop_fini that stops it would never run).
class ModuleScope {
 public:
  ModuleScope(LoadedModule* m, bool setup) : saved_(current_) { current_ = {m, setup}; }
  ~ModuleScope() { current_ = saved_; }
  ModuleScope(const ModuleScope&) = delete;
  ModuleScope& operator=(const ModuleScope&) = delete;

  static LoadedModule* module() { return current_.module; }
  static bool setup() { return current_.setup; }
  // A reference to the current module, or null (none, or it is already retiring).
  static std::shared_ptr<LoadedModule> hold() {
    return current_.module ? current_.module->weak_from_this().lock() : nullptr;
  }

 private:
  struct Current {
    LoadedModule* module = nullptr;
    bool setup = false;
  };
  static thread_local Current current_;
  Current saved_;
};

}  // namespace gev::host
