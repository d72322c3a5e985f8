// gev-host's command line.
#include "host_options.h"

#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "version.h"

namespace gev::host {

namespace po = boost::program_options;

int parse_host_options(int argc, char** argv, HostOptions& o) {
  std::string log_level = "info";
  std::vector<std::string> module_opts;
  std::string module_dir;
  po::options_description desc("usage: gev-host [options]");
  desc.add_options()("help,h", "print this help and exit")("version", "print the version and exit")(
      "listen", po::value(&o.listen)->default_value(o.listen), "address to listen on, HOST:PORT")(
      "protocol", po::value(&o.protocol)->default_value(o.protocol), "protocol module name")(
      "handler", po::value(&o.handler)->default_value(o.handler), "handler module name")(
      "loops", po::value(&o.loops)->default_value(0), "event loops (0: one per CPU)")(
      "reuseport", po::bool_switch(&o.reuse_port), "a listen socket per loop (SO_REUSEPORT)")(
      "idle-timeout", po::value(&o.idle_timeout_ms)->default_value(0),
      "close connections idle this many ms (0: never)")(
      "max-connections", po::value(&o.max_connections)->default_value(0),
      "refuse connections above this many (0: unlimited)")("module-dir", po::value(&module_dir),
                                                           "directory of module .so files")(
      "module-opt", po::value(&module_opts)->composing(),
      "NAME.KEY=VALUE: option KEY for module NAME (repeatable)")(
      "log-level", po::value(&log_level)->default_value(log_level),
      "trace, debug, info, warn, error or off");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "gev-host: %s\n", e.what());
    std::cerr << desc << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return -1;
  }
  if (vm.count("version")) {
    std::printf("gev-host %s (module ABI %u.%u)\n", kGevVersion, GEV_ABI_MAJOR_FOR_HOST,
                GEV_ABI_MINOR_FOR_HOST);
    return -1;
  }
  if (!parse_log_level(log_level.c_str(), &o.log_level)) {
    std::fprintf(stderr,
                 "gev-host: --log-level: '%s' is not one of trace, debug, info, warn, error, off\n",
                 log_level.c_str());
    return 2;
  }
  for (const std::string& kv : module_opts) {
    size_t dot = kv.find('.');
    size_t eq = kv.find('=');
    if (dot == std::string::npos || eq == std::string::npos || dot == 0 || eq < dot + 2) {
      std::fprintf(stderr, "gev-host: --module-opt: '%s' is not NAME.KEY=VALUE\n", kv.c_str());
      return 2;
    }
    o.module_opts[kv.substr(0, dot)][kv.substr(dot + 1, eq - dot - 1)] = kv.substr(eq + 1);
  }
  if (!module_dir.empty()) o.module_dir = module_dir;
  return 0;
}

std::filesystem::path default_module_dir(const char* argv0) {
  // <dir>/host/gev-host in a build tree, <prefix>/bin/gev-host once installed: both
  // keep modules in ../lib/gev/modules.
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) exe = std::filesystem::absolute(argv0, ec);
  return exe.parent_path().parent_path() / "lib/gev/modules";
}

}  // namespace gev::host
