// ModuleLoader: finds module .so files, opens each from a private copy (dlopen of a file
// replaced at the same path would return the old code), negotiates the ABI, and refuses
// broken ones with one log line naming the file and the reason. The rest load.
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
  std::shared_ptr<LoadedModule> open(const std::filesystem::path& file, std::string* error);

  // Every *.so in `dir`, sorted by name. Refusals are logged; duplicates of a name are
  // refused (the first, by file name, wins).
  std::map<std::string, std::shared_ptr<LoadedModule>> scan(const std::filesystem::path& dir);

 private:
  std::filesystem::path runtime_dir_;
  uint64_t generation_ = 0;
};

}  // namespace gev::host
