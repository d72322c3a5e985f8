// SocketAddress implementation.
#include "gev/socket_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>
#include <cstring>

namespace gev {

std::optional<SocketAddress> SocketAddress::parse(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  if (host.empty() || host == "localhost")  // a listener's shorthands
    return parse_numeric(std::string(host.empty() ? "0.0.0.0" : "127.0.0.1") +
                         std::string(text.substr(colon)));
  return parse_numeric(text);
}

std::optional<SocketAddress> SocketAddress::parse_numeric(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535 ||
      port_text.empty())
    return std::nullopt;
  SocketAddress a;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    std::string h(host.substr(1, host.size() - 2));
    a.storage_.v6.sin6_family = AF_INET6;
    a.storage_.v6.sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, h.c_str(), &a.storage_.v6.sin6_addr) != 1) return std::nullopt;
    return a;
  }
  std::string h(host);
  a.storage_.v4.sin_family = AF_INET;
  a.storage_.v4.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, h.c_str(), &a.storage_.v4.sin_addr) != 1) return std::nullopt;
  return a;
}

SocketAddress SocketAddress::from(const sockaddr* sa, socklen_t len) {
  SocketAddress a;
  std::memcpy(&a.storage_, sa, std::min<size_t>(len, sizeof a.storage_));
  return a;
}

SocketAddress SocketAddress::local_of(int fd) {
  SocketAddress a;
  socklen_t len = sizeof a.storage_;
  ::getsockname(fd, &a.storage_.sa, &len);
  return a;
}

SocketAddress SocketAddress::peer_of(int fd) {
  SocketAddress a;
  socklen_t len = sizeof a.storage_;
  ::getpeername(fd, &a.storage_.sa, &len);
  return a;
}

uint16_t SocketAddress::port() const {
  return ntohs(family() == AF_INET6 ? storage_.v6.sin6_port : storage_.v4.sin_port);
}

std::string SocketAddress::to_string() const {
  char host[INET6_ADDRSTRLEN] = "?";
  char out[INET6_ADDRSTRLEN + 16];
  if (family() == AF_UNIX) return "unix";  // (the path is not kept)
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &storage_.v6.sin6_addr, host, sizeof host);
    std::snprintf(out, sizeof out, "[%s]:%u", host, static_cast<unsigned>(port()));
  } else {
    if (family() == AF_INET) inet_ntop(AF_INET, &storage_.v4.sin_addr, host, sizeof host);
    std::snprintf(out, sizeof out, "%s:%u", host, static_cast<unsigned>(port()));
  }
  return out;
}

}  // namespace gev
