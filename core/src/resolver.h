// Resolver: host names resolved off the loops. getaddrinfo blocks (for seconds, with a
// slow DNS server), so it never runs on a loop thread: one thread of its own, started on
// the first name, takes the lookups in order and hands each result to a callback that
// posts it back to its loop. Dialing a numeric address never comes here.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gev/socket_address.h"

namespace gev::detail {

class Resolver {
 public:
  // gai_error: 0, or getaddrinfo's EAI_* code (addresses is then empty). Runs on the
  // resolver thread; must not block.
  using Done = std::function<void(int gai_error, std::vector<SocketAddress> addresses)>;

  Resolver() = default;
  ~Resolver() { shutdown(); }
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Any thread. Stream addresses of `host` (IPv4 and IPv6, in getaddrinfo's order) with
  // `port`. After shutdown() the job is dropped (its callback destroyed, not run).
  void resolve(std::string host, uint16_t port, Done done);
  // Drops queued lookups, waits for the one in progress and joins the thread. Idempotent.
  void shutdown();

 private:
  struct Job {
    std::string host;
    uint16_t port;
    Done done;
  };
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool quit_ = false;
  std::thread thread_;
};

// "host:port" split for dialing: "[v6]:port" or "name:port". False if malformed.
bool split_host_port(const std::string& text, std::string* host, uint16_t* port);

}  // namespace gev::detail
