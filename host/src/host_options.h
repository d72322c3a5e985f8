// HostOptions: gev-host's command line and config file (Boost.Program_options).
//
// The command line describes one listener (--listen/--protocol/--handler); a config file
// (--config FILE, Program_options' INI format) may declare several, one section each:
//
//   loops = 2
//   admin = 127.0.0.1:9091
//   [listener.echo]
//   listen = 127.0.0.1:1833
//   protocol = raw
//   handler = echo
//   [module.length_field]
//   bytes = 4
//
// Command-line settings win over the file's top-level ones. If the file declares
// listeners, --listen/--protocol/--handler on the command line add one more only when
// --listen is given explicitly.
#pragma once

#include <gev/log.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace gev::host {

struct ListenerConfig {
  std::string name;
  std::string listen;
  std::string protocol;
  std::string handler;
  bool reuse_port = false;
  uint64_t idle_timeout_ms = 0;
  uint64_t max_connections = 0;
  // TLS under the protocol when tls_cert is set (docs/transport.md).
  std::string tls_cert, tls_key, tls_chain;  // cert and key: comma lists, chosen by SNI
  std::string tls_client_ca, tls_client_verify = "required";
  std::string tls_min_version = "1.2";
  std::string tls_ciphers, tls_ciphersuites;
  std::vector<std::string> tls_alpn;
  uint64_t tls_handshake_timeout_ms = 10000;
  uint64_t tls_ticket_rotation_s = 3600;  // 0: no session tickets
  bool tls_ktls = false;                  // ask for kernel TLS (see docs/transport.md)
  // transport = udp (or listen = udp://HOST:PORT): datagrams, each one frame, each peer
  // address a light connection. idle-timeout and max-connections do not apply there;
  // these do:
  std::string transport = "tcp";
  uint64_t udp_idle_timeout_ms = 30000;  // a peer without a datagram for this long closes
  uint64_t udp_max_peers = 100000;       // peers open at once (0: unlimited); beyond, dropped
  uint64_t udp_max_datagram = 65535;     // longer datagrams are dropped (truncated)
  bool udp() const { return transport == "udp"; }
  bool operator==(const ListenerConfig&) const = default;
};

struct HostOptions {
  std::vector<ListenerConfig> listeners;
  size_t loops = 0;
  std::string admin = "127.0.0.1:9091";  // empty or "off": no admin endpoint
  std::filesystem::path module_dir;      // empty: <exe>/../lib/gev/modules
  std::map<std::string, std::map<std::string, std::string>> module_opts;  // module -> key -> value
  // [module.NAME] file = PATH: which file serves NAME when several claim it (a path
  // relative to module_dir, or absolute). Not passed to the module as an option.
  std::map<std::string, std::filesystem::path> module_files;
  LogLevel log_level = LogLevel::kInfo;
  std::string handoff_socket;         // unix socket where a successor can ask for our sockets
  std::string takeover;               // unix socket of a running gev-host to take over from
  uint64_t drain_timeout_ms = 30000;  // after a hand-off: how long the old host's connections stay
  uint64_t reload_drain_timeout_ms = 0;  // after a reload: when old generations' connections close (0: never)
  uint64_t shutdown_delay_ms = 0;  // on SIGTERM: /healthz says 503 this long before listeners close
  std::filesystem::path admin_token_file;  // Bearer token for POST /reload over TCP
  uint64_t admin_request_timeout_ms = 10000;  // an admin request head must arrive within this
};

// Parses argv (and --config). Returns 0 to go on; -1 after --help/--version (exit 0);
// otherwise the exit code, after printing the offending option or file line to stderr
// (or storing it in *error, without the "gev-host: " prefix: a reload re-reads this way).
int parse_host_options(int argc, char** argv, HostOptions& out, std::string* error = nullptr);

// "a, b,c" -> {"a", "b", "c"} (config lists: tls-cert, tls-key, tls-alpn).
std::vector<std::string> split_list(const std::string& text);

// The module directory to use when none was given: <exe>/../lib/gev/modules.
std::filesystem::path default_module_dir(const char* argv0);

}  // namespace gev::host
