// ModuleLoader: finds module .so files, opens each from a private copy (dlopen of a file
// replaced at the same path would return the old code) and negotiates the ABI, refusing
// broken ones with the reason.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loaded_module.h"

namespace gev::host {

class ModuleLoader {
 public:
  // Private copies go to a fresh mkdtemp(3) directory (mode 0700) under `parent`,
  // removed by the destructor. Throws std::system_error if it cannot be made.
  explicit ModuleLoader(const std::filesystem::path& parent);
  ~ModuleLoader();

  // Opens and negotiates one file. nullptr (and *error) if refused.
  std::unique_ptr<LoadedModule> open(const std::filesystem::path& file, std::string* error);

  // The *.so files in `dir`, sorted by name (empty, with *error set, if unreadable).
  static std::vector<std::filesystem::path> list(const std::filesystem::path& dir,
                                                 std::string* error);

 private:
  std::filesystem::path runtime_dir_;
  uint64_t generation_ = 0;
};

}  // namespace gev::host
