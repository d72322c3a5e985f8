// gev-host's command line and config file.
#include "host_options.h"

#include <gev/sdk/gev_abi.h>
#include <gev/socket_address.h>
#include <gev/tls_settings.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "config_lines.h"

namespace gev::host {

namespace po = boost::program_options;

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t b = item.find_first_not_of(' '), e = item.find_last_not_of(' ');
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

namespace {

bool parse_uint(const std::string& text, uint64_t* out) {
  try {
    size_t used = 0;
    *out = std::stoull(text, &used);
    return used == text.size() && !text.empty() && text[0] != '-';
  } catch (...) {
    return false;
  }
}

bool parse_bool(const std::string& text, bool* out) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") return *out = true, true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return *out = false, true;
  return false;
}

// "NAME.KEY=VALUE" into module_opts.
bool add_module_opt(const std::string& kv, HostOptions& o) {
  size_t dot = kv.find('.');
  size_t eq = kv.find('=');
  if (dot == std::string::npos || eq == std::string::npos || dot == 0 || eq < dot + 2) return false;
  std::string name = kv.substr(0, dot), key = kv.substr(dot + 1, eq - dot - 1);
  if (key == "file")
    o.module_files[name] = kv.substr(eq + 1);
  else
    o.module_opts[name][key] = kv.substr(eq + 1);
  return true;
}

// A config file's certificate and key paths, as nginx reads them: a relative one is
// relative to the config file's directory. `value` may be a comma list (tls-cert).
std::string resolve_paths(const std::string& value, const std::filesystem::path& base) {
  std::string out;
  for (const std::string& one : split_list(value)) {
    std::filesystem::path p(one);
    if (!out.empty()) out += ", ";
    out += (p.is_relative() && !base.empty() ? (base / p).lexically_normal() : p).string();
  }
  return out;
}

// A [listener.NAME] or [module.NAME] key from the config file. Returns an error or "".
std::string apply_section_key(const std::string& key, const std::string& raw_value,
                              const std::filesystem::path& base,
                              std::map<std::string, ListenerConfig>& listeners,
                              std::vector<std::string>& order, HostOptions& o) {
  size_t first = key.find('.');
  size_t last = key.rfind('.');
  if (first == std::string::npos || first == last) return "unknown option '" + key + "'";
  std::string section = key.substr(0, first);
  std::string name = key.substr(first + 1, last - first - 1);
  std::string field = key.substr(last + 1);
  bool is_path = section == "listener" && (field == "tls-cert" || field == "tls-key" ||
                                           field == "tls-chain" || field == "tls-client-ca");
  std::string value = is_path ? resolve_paths(raw_value, base) : raw_value;
  if (section == "module") {
    if (field == "file")
      o.module_files[name] = value;  // the host's, not the module's
    else
      o.module_opts[name][field] = value;
    return "";
  }
  if (section != "listener") return "unknown section '[" + section + "." + name + "]'";
  auto [it, fresh] = listeners.try_emplace(name);
  ListenerConfig& l = it->second;
  if (fresh) {
    l.name = name;
    order.push_back(name);
  }
  bool ok = true;
  if (field == "listen")
    l.listen = value;
  else if (field == "protocol")
    l.protocol = value;
  else if (field == "handler")
    l.handler = value;
  else if (field == "reuseport")
    ok = parse_bool(value, &l.reuse_port);
  else if (field == "idle-timeout")
    ok = parse_uint(value, &l.idle_timeout_ms);
  else if (field == "max-connections")
    ok = parse_uint(value, &l.max_connections);
  else if (field == "tls-cert")
    l.tls_cert = value;
  else if (field == "tls-key")
    l.tls_key = value;
  else if (field == "tls-chain")
    l.tls_chain = value;
  else if (field == "tls-client-ca")
    l.tls_client_ca = value;
  else if (field == "tls-client-verify")
    l.tls_client_verify = value;
  else if (field == "tls-min-version")
    l.tls_min_version = value;
  else if (field == "tls-ciphers")
    l.tls_ciphers = value;
  else if (field == "tls-ciphersuites")
    l.tls_ciphersuites = value;
  else if (field == "tls-alpn")
    l.tls_alpn = split_list(value);
  else if (field == "tls-handshake-timeout")
    ok = parse_uint(value, &l.tls_handshake_timeout_ms);
  else if (field == "tls-ticket-rotation") {
    ok = parse_uint(value, &l.tls_ticket_rotation_s);
    if (ok && l.tls_ticket_rotation_s > static_cast<uint64_t>(gev::kMaxTicketRotation.count()))
      return "'" + key + "' = " + value + ": at most " +
             std::to_string(gev::kMaxTicketRotation.count()) + " s (7 days)";
  }
  else if (field == "tls-ktls")
    ok = parse_bool(value, &l.tls_ktls);
  else if (field == "transport")
    l.transport = value;
  else if (field == "udp-idle-timeout")
    ok = parse_uint(value, &l.udp_idle_timeout_ms);
  else if (field == "udp-max-peers")
    ok = parse_uint(value, &l.udp_max_peers);
  else if (field == "udp-max-datagram")
    ok = parse_uint(value, &l.udp_max_datagram);
  else
    return "unknown option '" + key + "'";
  return ok ? "" : "bad value '" + value + "' for '" + key + "'";
}

bool is_listener_field(const std::string& f) {
  return f == "listen" || f == "protocol" || f == "handler" || f == "reuseport" ||
         f == "idle-timeout" || f == "max-connections" || f.compare(0, 4, "tls-") == 0 ||
         f == "transport" || f.compare(0, 4, "udp-") == 0;
}

// A section's key that is really a top-level option written after a [section] (the INI
// format has no way back to the top level): an error, not a key of that section.
// In a [module.NAME] section the key may be the module's own option of the same name:
// there it is only a warning (`where` names the line).
std::string misplaced(const std::string& key, const po::options_description& desc,
                      const std::string& where) {
  size_t first = key.find('.'), last = key.rfind('.');
  if (first == std::string::npos || first == last) return "";
  std::string section = key.substr(0, last), field = key.substr(last + 1);
  if (key.compare(0, 9, "listener.") == 0 && is_listener_field(field)) return "";
  if (!desc.find_nothrow(field, false)) return "";
  if (key.compare(0, 7, "module.") == 0) {
    GEV_WARN("%s: '%s' in [%s] goes to the module; if it is meant as gev-host's top-level "
             "option, move it before the first [section]",
             where.c_str(), field.c_str(), section.c_str());
    return "";
  }
  return "'" + field + "' is a top-level option, but it is written in [" + section +
         "]: top-level options go before the first [section]";
}

// --listen and a [listener.NAME] listen: an address gev can bind.
std::string check_address(const std::string& address) {
  if (SocketAddress::parse(address)) return "";
  return "'" + address +
         "' is not HOST:PORT (HOST an IPv4 address, [IPv6 address], localhost or empty for "
         "all; PORT 0-65535)";
}

// "udp://HOST:PORT" / "tcp://HOST:PORT" set the transport; then the listener must make
// sense: a known transport, an address, no TLS over UDP, bounds on the UDP settings.
std::string check_listener(ListenerConfig& l) {
  for (const char* scheme : {"udp", "tcp"}) {
    std::string prefix = std::string(scheme) + "://";
    if (l.listen.rfind(prefix, 0) == 0) {
      l.listen.erase(0, prefix.size());
      l.transport = scheme;
    }
  }
  if (l.transport != "tcp" && l.transport != "udp")
    return "transport: '" + l.transport + "' is not tcp or udp";
  if (std::string bad = check_address(l.listen); !bad.empty()) return "listen: " + bad;
  if (!l.udp()) return "";
  if (!l.tls_cert.empty()) return "tls-cert over transport = udp: DTLS is not built";
  if (l.udp_max_datagram == 0 || l.udp_max_datagram > 65535)
    return "udp-max-datagram: " + std::to_string(l.udp_max_datagram) + " is not 1..65535 bytes";
  if (l.udp_idle_timeout_ms == 0 || l.udp_idle_timeout_ms > (uint64_t{1} << 40))
    return "udp-idle-timeout: " + std::to_string(l.udp_idle_timeout_ms) +
           " ms (a peer must expire: 1 ms or more)";
  return "";
}

}  // namespace

int parse_host_options(int argc, char** argv, HostOptions& o, std::string* error_out) {
  auto fail = [error_out](const std::string& msg) {
    if (error_out)
      *error_out = msg;
    else
      std::fprintf(stderr, "gev-host: %s\n", msg.c_str());
    return 2;
  };
  ListenerConfig cli;
  cli.name = "main";
  cli.listen = "127.0.0.1:1833";
  cli.protocol = "raw";
  cli.handler = "echo";
  std::string log_level = "info";
  std::vector<std::string> module_opts;
  std::string module_dir;
  std::string config_file;
  po::options_description desc("usage: gev-host [options]");
  desc.add_options()("help,h", "print this help and exit")("version", "print the version and exit")(
      "config", po::value(&config_file),
      "config file (INI: top-level options, [listener.NAME] and [module.NAME] sections)")(
      "listen", po::value(&cli.listen)->default_value(cli.listen),
      "address to listen on, HOST:PORT (udp://HOST:PORT: datagrams)")(
      "protocol", po::value(&cli.protocol)->default_value(cli.protocol), "protocol module name")(
      "handler", po::value(&cli.handler)->default_value(cli.handler), "handler module name")(
      "loops", po::value(&o.loops)->default_value(0), "event loops (0: one per CPU)")(
      "reuseport", po::bool_switch(&cli.reuse_port), "a listen socket per loop (SO_REUSEPORT)")(
      "idle-timeout", po::value(&cli.idle_timeout_ms)->default_value(0),
      "close connections idle this many ms (0: never)")(
      "max-connections", po::value(&cli.max_connections)->default_value(0),
      "refuse connections above this many (0: unlimited)")(
      "tls-cert", po::value(&cli.tls_cert),
      "TLS under the protocol: the certificate (PEM, optionally with its chain)")(
      "tls-key", po::value(&cli.tls_key), "TLS: the private key (PEM, mode 0600)")(
      "tls-chain", po::value(&cli.tls_chain), "TLS: more chain certificates (PEM)")(
      "tls-min-version", po::value(&cli.tls_min_version)->default_value(cli.tls_min_version),
      "TLS: 1.2 or 1.3")("module-dir", po::value(&module_dir),
                                                           "directory of module .so files")(
      "module-opt", po::value(&module_opts)->composing(),
      "NAME.KEY=VALUE: option KEY for module NAME (repeatable)")(
      "admin", po::value(&o.admin)->default_value(o.admin),
      "admin address for /metrics and /healthz ('off' for none)")(
      "log-level", po::value(&log_level)->default_value(log_level),
      "trace, debug, info, warn, error or off")(
      "handoff-socket", po::value(&o.handoff_socket),
      "unix socket PATH on which a new gev-host (--takeover PATH) may take our listening "
      "sockets; we then drain and exit")(
      "takeover", po::value(&o.takeover),
      "take the listening sockets of the gev-host serving --handoff-socket PATH")(
      "drain-timeout", po::value(&o.drain_timeout_ms)->default_value(o.drain_timeout_ms),
      "after a hand-off: ms to let the old host's connections finish before closing them")(
      "reload-drain-timeout",
      po::value(&o.reload_drain_timeout_ms)->default_value(o.reload_drain_timeout_ms),
      "after a reload: ms before connections still served by an older module generation "
      "are closed (0: never; they are served until they close)")(
      "shutdown-delay", po::value(&o.shutdown_delay_ms)->default_value(o.shutdown_delay_ms),
      "on SIGTERM: ms during which /healthz answers 503 while listeners still accept (a "
      "load balancer moves away first), before the graceful stop")(
      "admin-request-timeout",
      po::value(&o.admin_request_timeout_ms)->default_value(o.admin_request_timeout_ms),
      "ms an admin connection has to send a whole request head, after connecting or after "
      "its last response (then 408, or a close if it sent nothing)")(
      "admin-token-file", po::value<std::string>(),
      "file (mode 0600) holding the token that POST /reload over a TCP admin needs as "
      "'Authorization: Bearer TOKEN'");
  po::variables_map vm;
  std::map<std::string, ListenerConfig> file_listeners;
  std::vector<std::string> order;
  ConfigLines lines;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    if (vm.count("config")) {
      config_file = vm["config"].as<std::string>();
      std::ifstream file(config_file);
      if (!file) {
        return fail("--config: cannot read '" + config_file + "'");
      }
      std::stringstream text;
      text << file.rdbuf();
      std::istringstream scan_in(text.str()), in(text.str());
      lines = scan_config(scan_in);
      po::parsed_options parsed = po::parse_config_file(in, desc, /*allow_unregistered=*/true);
      for (po::option& opt : parsed.options) {
        if (!opt.unregistered) {
          // A top-level tls-* file in the config file is relative to the file, as in a
          // [listener.NAME] section (a command-line value, stored first, still wins).
          if ((opt.string_key == "tls-cert" || opt.string_key == "tls-key" ||
               opt.string_key == "tls-chain") &&
              !opt.value.empty())
            opt.value[0] = resolve_paths(opt.value[0],
                                         std::filesystem::absolute(config_file).parent_path());
          continue;
        }
        std::string value = unquote(opt.value.empty() ? "" : opt.value[0]);
        std::string where = lines.where(config_file, opt.string_key);
        std::string error = misplaced(opt.string_key, desc, where);
        if (error.empty())
          error = apply_section_key(opt.string_key, value,
                                    std::filesystem::absolute(config_file).parent_path(),
                                    file_listeners, order, o);
        if (!error.empty()) return fail(where + ": " + error);
      }
      po::store(parsed, vm);  // command-line values stored first win
    }
    po::notify(vm);
  } catch (const po::error& e) {
    return fail((config_file.empty() ? "" : config_file + ": ") + e.what());
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return -1;
  }
  if (vm.count("version")) {
    std::printf("gev-host %s (module ABI %u.%u)\n", GEV_VERSION, GEV_ABI_MAJOR, GEV_ABI_MINOR);
    return -1;
  }
  if (!parse_log_level(log_level.c_str(), &o.log_level)) {
    return fail("--log-level: '" + log_level +
                "' is not one of trace, debug, info, warn, error, off");
  }
  // Program_options reads "-1" into an unsigned as a huge number: bound what matters.
  if (o.loops > 1024) {
    return fail("--loops: " + std::to_string(o.loops) + " is not between 0 and 1024");
  }
  if (cli.idle_timeout_ms > (uint64_t{1} << 40)) {
    return fail("--idle-timeout: " + std::to_string(cli.idle_timeout_ms) + " ms is out of range");
  }
  using Bound = std::pair<const char*, uint64_t>;
  for (auto [name, v] : {Bound{"--drain-timeout", o.drain_timeout_ms},
                         Bound{"--reload-drain-timeout", o.reload_drain_timeout_ms},
                         Bound{"--shutdown-delay", o.shutdown_delay_ms},
                         Bound{"--admin-request-timeout", o.admin_request_timeout_ms}})
    if (v > (uint64_t{1} << 40))
      return fail(std::string(name) + ": " + std::to_string(v) + " ms is out of range");
  if (vm.count("admin-token-file")) o.admin_token_file = vm["admin-token-file"].as<std::string>();
  for (const std::string& kv : module_opts) {
    if (!add_module_opt(kv, o)) {
      return fail("--module-opt: '" + kv + "' is not NAME.KEY=VALUE");
    }
  }
  for (const std::string& name : order) {
    const ListenerConfig& l = file_listeners[name];
    for (const char* field : {"listen", "protocol", "handler"}) {
      const std::string& v = field[0] == 'l' ? l.listen : field[0] == 'p' ? l.protocol : l.handler;
      if (v.empty()) {
        return fail(config_file + ": [listener." + name + "] needs '" + field + "'");
      }
    }
    ListenerConfig checked = l;
    if (std::string bad = check_listener(checked); !bad.empty())
      return fail(lines.where(config_file, "listener." + name + ".listen") + ": [listener." +
                  name + "] " + bad);
    o.listeners.push_back(checked);
  }
  if (o.listeners.empty() || !vm["listen"].defaulted()) {
    if (std::string bad = check_listener(cli); !bad.empty()) return fail("--" + bad);
    o.listeners.push_back(cli);
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
