// LoadedModule: one module .so opened by the host, its descriptor, its state, and the
// per-module host table it was handed. Shared ownership keeps the library mapped for as
// long as anything created by it lives.
#pragma once

#ifndef BOOST_DLL_USE_STD_FS
#define BOOST_DLL_USE_STD_FS  // std::filesystem, not boost::filesystem
#endif
#include <gev/sdk/gev_module.h>

#include <boost/dll/shared_library.hpp>
#include <filesystem>
#include <memory>
#include <string>

namespace gev::host {

struct ModuleHost;  // the gev_host behind the module's handle (host_api.h)

class LoadedModule {
 public:
  LoadedModule(boost::dll::shared_library lib, std::filesystem::path source,
               std::filesystem::path runtime_copy, std::unique_ptr<ModuleHost> host,
               const gev_module_descriptor* descriptor);
  ~LoadedModule();  // destroy(state), then the library is unmapped
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

 private:
  boost::dll::shared_library lib_;
  std::filesystem::path source_;
  std::filesystem::path runtime_copy_;
  std::unique_ptr<ModuleHost> host_;
  const gev_module_descriptor* descriptor_;
  std::string name_;
  void* state_ = nullptr;
  bool created_ = false;
};

}  // namespace gev::host
