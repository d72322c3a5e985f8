// Resolver implementation.
#include "resolver.h"

#include <netdb.h>

#include <charconv>

namespace gev::detail {

void Resolver::resolve(std::string host, uint16_t port, Done done) {
  std::lock_guard lock(mu_);
  if (quit_) return;
  jobs_.push_back({std::move(host), port, std::move(done)});
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  cv_.notify_one();
}

void Resolver::shutdown() {
  std::deque<Job> dropped;
  {
    std::lock_guard lock(mu_);
    quit_ = true;
    dropped.swap(jobs_);
    cv_.notify_one();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Resolver::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return quit_ || !jobs_.empty(); });
    if (quit_) return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    std::string service = std::to_string(job.port);
    int rc = ::getaddrinfo(job.host.c_str(), service.c_str(), &hints, &res);
    std::vector<SocketAddress> found;
    if (rc == 0) {
      for (addrinfo* a = res; a; a = a->ai_next)
        if (a->ai_family == AF_INET || a->ai_family == AF_INET6)
          found.push_back(SocketAddress::from(a->ai_addr, a->ai_addrlen));
      ::freeaddrinfo(res);
      if (found.empty()) rc = EAI_NONAME;
    }
    job.done(rc, std::move(found));
    job.done = nullptr;  // what it captured goes before the lock is taken again
    lock.lock();
  }
}

bool split_host_port(const std::string& text, std::string* host, uint16_t* port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) return false;
  std::string h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  else if (h.find(':') != std::string::npos) return false;  // a bare v6 address needs brackets
  if (h.empty()) return false;
  const char* b = text.data() + colon + 1;
  const char* e = text.data() + text.size();
  unsigned p = 0;
  auto [end, ec] = std::from_chars(b, e, p);
  if (ec != std::errc() || end != e || p == 0 || p > 65535) return false;
  *host = std::move(h);
  *port = static_cast<uint16_t>(p);
  return true;
}

}  // namespace gev::detail
