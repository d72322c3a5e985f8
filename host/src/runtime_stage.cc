// Runtime's staging: the modules of a generation (which file serves which name, which
// instances are kept, what is refused and why) and the pipelines its listeners get.
// Nothing running changes here.
#include <gev/log.h>
#include <sys/stat.h>

#include <algorithm>

#include "host_api.h"
#include "runtime.h"

namespace gev::host {

namespace fs = std::filesystem;

// Same path, same file, same contents as far as the file system tells.
std::string file_identity(const fs::path& f) {
  struct stat st {};
  if (::stat(f.c_str(), &st) != 0) return {};
  return f.string() + "|" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

namespace {

// What a reload compares to keep a module: its file's identity and its options.
std::string module_identity(const std::string& file_id, const HostOptions& o,
                            const std::string& module) {
  std::string out = file_id + "|";
  if (auto it = o.module_opts.find(module); it != o.module_opts.end())
    for (const auto& [k, v] : it->second) out += k + "=" + v + "\n";
  return out;
}

}  // namespace

std::shared_ptr<LoadedModule> Runtime::open_module(const fs::path& file, const std::string& file_id,
                                                   const HostOptions& next, uint64_t gen,
                                                   std::string* error) {
  std::unique_ptr<LoadedModule> opened = loader_.open(file, error);
  if (!opened) return nullptr;
  opened->host().loops.assign(lifecycle_.loops().begin(), lifecycle_.loops().end());
  opened->generation = gen;
  opened->identity = module_identity(file_id, next, opened->name());
  // Adopted before create: if create fails after starting timers, retiring it cancels
  // them on their loops before the library goes.
  return lifecycle_.adopt(std::move(opened));
}

bool Runtime::create_module(LoadedModule& m, const HostOptions& next, std::string* error) {
  std::vector<gev_config_entry> entries;
  if (auto it = next.module_opts.find(m.name()); it != next.module_opts.end())
    for (const auto& [k, v] : it->second) entries.push_back({k.c_str(), v.c_str()});
  gev_config config{sizeof(gev_config), static_cast<uint32_t>(entries.size()), entries.data()};
  return m.create(config, error);
}

bool Runtime::stage(const HostOptions& next, uint64_t gen, Staged& out, std::string* error) {
  auto refuse = [&](const fs::path& file, const std::string& name, const std::string& why) {
    GEV_ERROR("refused module %s: %s", file.c_str(), why.c_str());
    out.refused.push_back({file, name, why});
  };
  std::string list_error;
  std::vector<fs::path> files = ModuleLoader::list(next.module_dir, &list_error);
  if (!list_error.empty()) refuse(next.module_dir, "", list_error);
  for (fs::path& f : files) f = f.lexically_normal();
  // A file the config chooses for a module may live elsewhere.
  std::map<std::string, fs::path> chosen;  // module name -> the file the config names
  for (const auto& [name, file] : next.module_files) {
    fs::path f = (file.is_absolute() ? file : next.module_dir / file).lexically_normal();
    chosen[name] = f;
    if (std::find(files.begin(), files.end(), f) == files.end()) files.push_back(f);
  }

  // Open every file (a file and options unchanged since the running generation: keep
  // that instance), then settle who may have each name, then create the new ones.
  struct Candidate {
    fs::path file;
    std::shared_ptr<LoadedModule> module;
  };
  std::map<std::string, std::vector<Candidate>> by_name;
  for (const fs::path& f : files) {
    std::shared_ptr<LoadedModule> m;
    std::string file_id = file_identity(f);
    for (const auto& [name, cur] : modules_)
      if (cur->source() == f && cur->identity == module_identity(file_id, next, name)) m = cur;
    std::string why;
    if (!m) m = open_module(f, file_id, next, gen, &why);
    if (!m) {
      // A file the config chose for a module: the refusal is that module's.
      std::string name;
      for (const auto& [n, file] : chosen)
        if (file == f) name = n;
      refuse(f, name, why);
      continue;
    }
    by_name[m->name()].push_back({f, std::move(m)});
  }
  for (auto& [name, candidates] : by_name) {
    std::shared_ptr<LoadedModule> m;
    if (auto pick = chosen.find(name); pick != chosen.end()) {
      for (Candidate& c : candidates) {
        if (c.file == pick->second)
          m = c.module;
        else
          GEV_INFO("module %s: not loading %s ([module.%s] file = %s)", name.c_str(),
                   c.file.c_str(), name.c_str(), pick->second.c_str());
      }
      bool refused_already = std::any_of(out.refused.begin(), out.refused.end(),
                                         [&](const Refusal& r) { return r.file == pick->second; });
      if (!m && !refused_already)
        refuse(pick->second, name,
               "[module." + name + "] file names it, but it holds no module named '" + name + "'");
      if (!m) continue;
    } else if (candidates.size() > 1) {
      std::string all;
      for (const Candidate& c : candidates) all += (all.empty() ? "" : " and ") + c.file.string();
      refuse(candidates.front().file, name,
             all + (candidates.size() == 2 ? " both" : " all") + " claim the name '" + name +
                 "': none is loaded; remove the extra files or choose one with [module." +
                 name + "] file = ...");
      continue;
    } else {
      m = candidates.front().module;
    }
    std::string why;
    if (m->generation == gen && !create_module(*m, next, &why)) {
      refuse(m->source(), name, why);
      continue;
    }
    out.modules.emplace(name, m);
    if (m->generation != gen) continue;  // kept from the running generation
    out.fresh.push_back(m);
    GEV_INFO("loaded module %s %s from %s (generation %llu)", name.c_str(),
             m->descriptor().version, m->source().c_str(), static_cast<unsigned long long>(gen));
  }
  // Options for a module that no file provides are a mistake in the options (a misspelt
  // name, a module not installed), not something to ignore. Unless a file was refused
  // before it said its name (or the directory could not be read): then it may be that
  // module, and its refusal is the news.
  bool nameless = !list_error.empty() ||
                  std::any_of(out.refused.begin(), out.refused.end(),
                              [](const Refusal& r) { return r.name.empty(); });
  for (const auto& [name, opts] : next.module_opts) {
    bool known = out.modules.count(name) > 0 ||
                 std::any_of(out.refused.begin(), out.refused.end(),
                             [&](const Refusal& r) { return r.name == name; });
    if (known) continue;
    std::string here;
    for (const auto& [n, m] : out.modules) here += (here.empty() ? "" : ", ") + n;
    std::string what = "options for module '" + name + "' (--module-opt " + name + "." +
                       (opts.empty() ? "KEY" : opts.begin()->first) + "=..., or [module." +
                       name + "]), but no module is named '" + name + "' in " +
                       next.module_dir.string() + " (there: " + here + ")";
    if (nameless) {
      GEV_WARN("%s; a file refused above may be it", what.c_str());
      continue;
    }
    *error = what;
    out.bad_options = true;
    return false;
  }
  // Only what a listener uses can fail the load: a stray file costs its own line.
  for (const ListenerConfig& l : next.listeners) {
    std::shared_ptr<Pipeline> p = pipeline_for(l, out, next.module_dir, error);
    if (!p) return false;
    out.pipelines.push_back(std::move(p));
  }
  return true;
}

std::shared_ptr<Pipeline> Runtime::pipeline_for(const ListenerConfig& l, const Staged& s,
                                                const fs::path& module_dir,
                                                std::string* error) const {
  auto find = [&](const std::string& name, bool protocol) -> std::shared_ptr<LoadedModule> {
    auto it = s.modules.find(name);
    if (it == s.modules.end()) return nullptr;
    return (protocol ? it->second->is_protocol() : it->second->is_handler()) ? it->second : nullptr;
  };
  std::shared_ptr<LoadedModule> protocol = find(l.protocol, true);
  std::shared_ptr<LoadedModule> handler = find(l.handler, false);
  if (!protocol || !handler) {
    const std::string& name = protocol ? l.handler : l.protocol;
    const char* kind = protocol ? "handler" : "protocol";
    // Why, if a file that would have been it was refused: in the module's own words.
    std::string why;
    for (const Refusal& r : s.refused)
      if (r.name == name || (r.name.empty() && r.file.stem() == name))
        why += (why.empty() ? "" : "; ") + ("refused module " + r.file.string() + ": " + r.why);
    if (!why.empty())
      *error = why + " (listener '" + l.name + "' needs '" + name + "' as its " + kind + ")";
    else
      *error = "listener '" + l.name + "': no " + kind + " module named '" + name + "' in " +
               module_dir.string();
    return nullptr;
  }
  if (l.udp() && !protocol->serves_datagrams()) {
    *error = "listener '" + l.name + "': protocol '" + l.protocol +
             "' is stream-only and cannot serve transport = udp (its module does not declare "
             "GEV_PROTOCOL_DATAGRAMS; raw does)";
    return nullptr;
  }
  // A listener whose modules are the same instances keeps its pipeline (and its
  // connections are not drained).
  for (const Listener& cur : listeners_) {
    if (cur.config.name != l.name) continue;
    std::shared_ptr<Pipeline> p = cur.sw->current();
    if (p && p->protocol_module() == protocol && p->handler_module() == handler) return p;
  }
  return std::make_shared<Pipeline>(std::move(protocol), std::move(handler));
}

}  // namespace gev::host
