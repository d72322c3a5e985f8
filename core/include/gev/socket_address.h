// SocketAddress: an IPv4 or IPv6 endpoint, parsed from and printed as "host:port".
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gev {

class SocketAddress {
 public:
  SocketAddress() { storage_.v6 = {}; }
  // "127.0.0.1:80", "[::1]:80", ":80" or "0.0.0.0:80" (any address). nullopt if malformed.
  static std::optional<SocketAddress> parse(std::string_view host_port);
  // IP literals only ("127.0.0.1:80", "[::1]:80"): no shorthand, no name (a dial resolves
  // "localhost" like any other name).
  static std::optional<SocketAddress> parse_numeric(std::string_view host_port);
  static SocketAddress from(const sockaddr* sa, socklen_t len);
  static SocketAddress local_of(int fd);  // getsockname
  static SocketAddress peer_of(int fd);   // getpeername

  const sockaddr* get() const { return &storage_.sa; }
  sockaddr* get() { return &storage_.sa; }
  socklen_t size() const {
    return family() == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  }
  int family() const { return storage_.sa.sa_family; }
  uint16_t port() const;
  std::string to_string() const;  // "1.2.3.4:80" or "[::1]:80"

 private:
  union {
    sockaddr sa;
    sockaddr_in v4;
    sockaddr_in6 v6;
  } storage_;
};

}  // namespace gev
