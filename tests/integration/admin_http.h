// The admin endpoint as a test talks to it: one HTTP/1.1 request per connection, and
// the token that POST /reload over TCP needs.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test_client.h"

namespace gev::test {

inline const std::string kToken = "test-token-5f1c";
inline const std::string kBearer = "Authorization: Bearer " + kToken + "\r\n";

// Writes the token file (mode 0600) into `dir`; returns its path.
inline std::filesystem::path write_token(const std::filesystem::path& dir) {
  std::filesystem::path p = dir / "admin.token";
  { std::ofstream(p) << kToken << "\n"; }
  ::chmod(p.c_str(), 0600);
  return p;
}

// One request with Connection: close and a Host naming the admin's own address (plus
// `headers`, each ending in CRLF); returns the whole response.
inline std::string http(uint16_t port, const std::string& method, const std::string& path,
                        const std::string& headers = "", int timeout_ms = 15000) {
  TestClient c(port);
  c.send_all(method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
             "\r\nConnection: close\r\n" + headers + "\r\n");
  return c.recv_until_eof(timeout_ms);
}

}  // namespace gev::test
