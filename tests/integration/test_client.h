// TestClient: a plain blocking-with-deadline TCP client for integration tests, plus
// helpers to run a gev::Server on 127.0.0.1 port 0 and wait for conditions.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace gev::test {

class TestClient {
 public:
  TestClient() = default;
  explicit TestClient(uint16_t port) { connect(port); }
  ~TestClient();
  TestClient(TestClient&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  TestClient& operator=(TestClient&& o) noexcept;

  bool connect(uint16_t port);
  int fd() const { return fd_; }

  // Sends everything (blocking). False on error.
  bool send_all(const void* p, size_t n);
  bool send_all(const std::string& s) { return send_all(s.data(), s.size()); }
  // Reads exactly n bytes within timeout_ms; returns what arrived (shorter on EOF/timeout).
  std::string recv_exact(size_t n, int timeout_ms = 5000);
  // Reads until EOF or timeout; eof() tells which.
  std::string recv_until_eof(int timeout_ms = 5000);
  // Sends `data` and reads the same number of bytes back concurrently (so large
  // payloads cannot deadlock on full socket buffers).
  std::string echo(const std::string& data, int timeout_ms = 20000);
  // True if the peer closed (EOF or reset) within timeout_ms.
  bool wait_closed(int timeout_ms = 5000);
  bool eof() const { return eof_; }
  void shutdown_write();
  void reset();  // SO_LINGER 0 then close: the peer sees RST
  void close();

 private:
  int fd_ = -1;
  bool eof_ = false;
};

std::string random_bytes(size_t n, uint32_t seed);

// Polls `cond` every 2 ms until true or timeout_ms passes.
bool wait_until(const std::function<bool()>& cond, int timeout_ms = 5000);

// Raises RLIMIT_NOFILE's soft limit to the hard limit (tests open thousands of sockets).
void raise_fd_limit();

// Open file descriptors of this process.
size_t open_fd_count();

}  // namespace gev::test
