// ModuleLoader implementation (Boost.DLL over dlopen, RTLD_NOW | RTLD_LOCAL).
#include "module_loader.h"

#include <dlfcn.h>
#include <gev/log.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <system_error>

#include "host_api.h"

namespace gev::host {

namespace fs = std::filesystem;

ModuleLoader::ModuleLoader(const fs::path& parent) {
  // A fresh, private directory: a predictable one could be prepared by another local
  // user to swap a .so between our copy and dlopen.
  std::string tmpl = (parent / "gev-host-XXXXXX").string();
  if (!::mkdtemp(tmpl.data()))
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + tmpl);
  runtime_dir_ = tmpl;
}

ModuleLoader::~ModuleLoader() {
  std::error_code ec;
  fs::remove_all(runtime_dir_, ec);
}

std::unique_ptr<LoadedModule> ModuleLoader::open(const fs::path& file, std::string* error) {
  std::error_code ec;
  // A private copy per generation: the dynamic linker caches by path (and inode).
  fs::path copy = runtime_dir_ / (std::to_string(++generation_) + "-" + file.filename().string());
  fs::copy_file(file, copy, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    *error = "cannot copy to " + copy.string() + ": " + ec.message();
    return nullptr;
  }
  // Loading, the entry call and any unload on the way out happen under dl_mutex (the
  // guard outlives `lib`, so even its destructor's unload is inside).
  std::lock_guard dl_lock(dl_mutex());
  boost::dll::shared_library lib;
  std::error_code bec;
  lib.load(copy, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, bec);
  if (bec) {
    const char* why = dlerror();
    *error = std::string("not a loadable shared object: ") + (why ? why : bec.message());
    fs::remove(copy, ec);
    return nullptr;
  }
  if (!lib.has(GEV_MODULE_ENTRY_SYMBOL)) {
    *error = "no " GEV_MODULE_ENTRY_SYMBOL " symbol (not a gev module, or not exported)";
    fs::remove(copy, ec);
    return nullptr;
  }
  auto entry = lib.get<const gev_module_descriptor*(const gev_host_api*, uint32_t, uint32_t)>(
      GEV_MODULE_ENTRY_SYMBOL);
  auto host = std::make_unique<ModuleHost>();
  host->module_name = file.stem().string();
  init_host_api(*host);
  const gev_module_descriptor* d = entry(&host->api, GEV_ABI_MAJOR, GEV_ABI_MINOR);
  auto refuse = [&](std::string why) -> std::unique_ptr<LoadedModule> {
    *error = std::move(why);
    lib.unload();
    fs::remove(copy, ec);
    return nullptr;
  };
  if (!d) {
    return refuse("the module refused host ABI " + std::to_string(GEV_ABI_MAJOR) + "." +
                  std::to_string(GEV_ABI_MINOR));
  }
  if (d->size < offsetof(gev_module_descriptor, handler) + sizeof(d->handler))
    return refuse("descriptor too small (" + std::to_string(d->size) + " bytes)");
  if (d->abi_major != GEV_ABI_MAJOR) {
    return refuse("built for ABI " + std::to_string(d->abi_major) + "." +
                  std::to_string(d->abi_minor) + ", host has " + std::to_string(GEV_ABI_MAJOR) +
                  "." + std::to_string(GEV_ABI_MINOR));
  }
  if (!d->name || !*d->name) return refuse("the descriptor has no name");
  if (!d->create || !d->destroy) return refuse("the descriptor lacks create or destroy");
  bool proto =
      (d->kind & GEV_MODULE_PROTOCOL) && d->protocol && d->protocol->decode && d->protocol->encode;
  bool handler = (d->kind & GEV_MODULE_HANDLER) && d->handler && d->handler->on_message;
  if (!proto && !handler) return refuse("neither a complete protocol nor a complete handler");
  host->module_name = d->name;
  return std::make_unique<LoadedModule>(std::move(lib), file, copy, std::move(host), d);
}

std::vector<fs::path> ModuleLoader::list(const fs::path& dir, std::string* error) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".so") files.push_back(e.path());
  if (ec) *error = "module dir " + dir.string() + ": " + ec.message();
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace gev::host
