// Flag parsing for examples and small servers (the host has a full config of its own).
#include "gev/flags.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "gev/log.h"

namespace gev {

namespace {

void usage(const char* prog, FILE* out) {
  std::fprintf(out,
               "usage: %s [--port P] [--address HOST:PORT] [--loops N] [--reuseport]\n"
               "          [--idle-timeout MS] [--max-connections N] [--log-level LEVEL]\n"
               "          [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]\n",
               prog);
}

bool to_number(std::string_view s, unsigned long long* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc{} && end == s.data() + s.size() && !s.empty();
}

}  // namespace

bool parse_flags(int argc, char** argv, Options& o) {
  std::string host = "127.0.0.1";
  std::string port;
  {
    size_t colon = o.address.rfind(':');
    if (colon != std::string::npos) {
      host = o.address.substr(0, colon);
      port = o.address.substr(colon + 1);
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    std::string value;
    if (size_t eq = flag.find('='); eq != std::string_view::npos) {
      value = std::string(flag.substr(eq + 1));
      flag = flag.substr(0, eq);
    }
    auto need_value = [&]() -> bool {
      if (!value.empty()) return true;
      if (i + 1 >= argc) return false;
      value = argv[++i];
      return true;
    };
    unsigned long long n = 0;
    bool ok = true;
    if (flag == "--help" || flag == "-h") {
      usage(argv[0], stdout);
      std::exit(0);
    } else if (flag == "--reuseport") {
      o.reuse_port = true;
    } else if (flag == "--port") {
      ok = need_value() && to_number(value, &n) && n <= 65535;
      port = value;
    } else if (flag == "--address") {
      ok = need_value();
      size_t colon = value.rfind(':');
      ok = ok && colon != std::string::npos;
      if (ok) {
        host = value.substr(0, colon);
        port = value.substr(colon + 1);
      }
    } else if (flag == "--loops") {
      ok = need_value() && to_number(value, &n);
      o.loops = n;
    } else if (flag == "--idle-timeout") {
      ok = need_value() && to_number(value, &n);
      o.idle_timeout = std::chrono::milliseconds(n);
    } else if (flag == "--max-connections") {
      ok = need_value() && to_number(value, &n);
      o.max_connections = n;
    } else if (flag == "--tls-cert") {
      ok = need_value();
      o.tls.cert_file = value;
    } else if (flag == "--tls-key") {
      ok = need_value();
      o.tls.key_file = value;
    } else if (flag == "--tls-client-ca") {
      ok = need_value();
      o.tls.client_ca_file = value;
    } else if (flag == "--log-level") {
      LogLevel level;
      ok = need_value() && parse_log_level(value.c_str(), &level);
      if (ok) set_log_level(level);
    } else {
      std::fprintf(stderr, "%s: unknown flag '%s'\n", argv[0], argv[i]);
      usage(argv[0], stderr);
      return false;
    }
    if (!ok) {
      std::fprintf(stderr, "%s: bad value for %.*s\n", argv[0], static_cast<int>(flag.size()),
                   flag.data());
      usage(argv[0], stderr);
      return false;
    }
  }
  o.address = host + ":" + port;
  return true;
}

}  // namespace gev
