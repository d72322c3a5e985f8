// LoadedModule implementation.
#include "loaded_module.h"

#include <system_error>

#include "host_api.h"

namespace gev::host {

LoadedModule::LoadedModule(boost::dll::shared_library lib, std::filesystem::path source,
                           std::filesystem::path runtime_copy, std::unique_ptr<ModuleHost> host,
                           const gev_module_descriptor* descriptor)
    : lib_(std::move(lib)),
      source_(std::move(source)),
      runtime_copy_(std::move(runtime_copy)),
      host_(std::move(host)),
      descriptor_(descriptor),
      name_(descriptor->name) {}

LoadedModule::~LoadedModule() {
  if (created_) descriptor_->destroy(state_);
  lib_.unload();
  std::error_code ec;
  std::filesystem::remove(runtime_copy_, ec);
}

bool LoadedModule::create(const gev_config& config, std::string* error) {
  gev_status st = descriptor_->create(&host_->api, &config, &state_);
  host_->frozen.store(true, std::memory_order_release);
  if (st != GEV_OK) {
    *error = "create() failed with status " + std::to_string(st);
    return false;
  }
  created_ = true;
  return true;
}

}  // namespace gev::host
