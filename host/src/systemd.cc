#include "systemd.h"

#include <fcntl.h>
#include <gev/log.h>
#include <gev/socket_address.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace gev::host {

namespace {

constexpr int kFirstFd = 3;  // SD_LISTEN_FDS_START

bool parse_number(const char* s, long* out) {
  if (!s || !*s) return false;
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (*end != '\0' || v < 0) return false;
  *out = v;
  return true;
}

}  // namespace

std::vector<ActivatedSocket> take_activated_sockets() {
  std::vector<ActivatedSocket> out;
  long pid = 0, count = 0;
  bool for_us = parse_number(std::getenv("LISTEN_PID"), &pid) && pid == ::getpid() &&
                parse_number(std::getenv("LISTEN_FDS"), &count) && count > 0 && count < 4096;
  std::string names = std::getenv("LISTEN_FDNAMES") ? std::getenv("LISTEN_FDNAMES") : "";
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!for_us) return out;
  size_t pos = 0;
  for (int i = 0; i < count; ++i) {
    ActivatedSocket s;
    s.fd = kFirstFd + i;
    size_t colon = names.find(':', pos);
    if (pos <= names.size())
      s.name = names.substr(pos, colon == std::string::npos ? colon : colon - pos);
    pos = colon == std::string::npos ? names.size() + 1 : colon + 1;
    ::fcntl(s.fd, F_SETFD, FD_CLOEXEC);
    s.address = SocketAddress::local_of(s.fd).to_string();
    out.push_back(std::move(s));
  }
  return out;
}

bool sd_notify(const std::string& state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return true;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = std::strlen(path);
  if (len >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // an abstract socket
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  bool ok =
      ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
               size) == static_cast<ssize_t>(state.size());
  ::close(fd);
  if (!ok) GEV_WARN("sd_notify %s: %s", state.c_str(), std::strerror(errno));
  return ok;
}

}  // namespace gev::host
