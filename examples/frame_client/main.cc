// frame_client: a client of the length_field protocol that host/gev-host.conf serves on
// 127.0.0.1:1834. The first argument is the address if it looks like HOST:PORT. Empty
// messages are skipped (echo answers an empty frame with nothing). Exit 0 on success, 1 on
// a connection or I/O error, 2 on a usage error.
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

namespace {

constexpr uint32_t kMaxReply = 16u << 20;  // length_field's default max_frame
constexpr const char* kUsage =
    "usage: frame_client [HOST:PORT] [message...]   (default 127.0.0.1:1834)\n"
    "Sends each message (or each line of stdin) as a 4-byte big-endian length, then the\n"
    "payload, and prints the payload of each reply frame on a line.\n";

// "HOST:PORT" with a numeric port.
bool split_address(const std::string& a, std::string& host, std::string& port) {
  size_t colon = a.rfind(':');
  if (colon == std::string::npos || colon == 0 || a.size() - colon < 2 || a.size() - colon > 6 ||
      a.find_first_not_of("0123456789", colon + 1) != std::string::npos)
    return false;
  if (std::stoul(a.substr(colon + 1)) > 65535) return false;
  host = a.substr(0, colon);
  port = a.substr(colon + 1);
  return true;
}

// A connected socket, or -1 with *error set.
int connect_to(const std::string& host, const std::string& port, std::string* error) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    *error = gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      *error = std::strerror(errno);
      if (fd >= 0) close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  timeval tv{10, 0};  // a server that never answers is an error, not a hang
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Reads exactly n bytes, over as many partial reads as it takes. "" or what went wrong.
std::string recv_all(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return "no reply within 10 s";
    if (r < 0) return std::string("recv: ") + std::strerror(errno);
    if (r == 0) return "connection closed by the server";
    p += r;
    n -= static_cast<size_t>(r);
  }
  return "";
}

// One frame out, one frame back.
std::string exchange(int fd, const std::string& msg, std::string& reply) {
  uint32_t n = static_cast<uint32_t>(msg.size());
  std::string out = {char(n >> 24), char(n >> 16), char(n >> 8), char(n)};
  out += msg;
  for (size_t sent = 0; sent < out.size();) {
    ssize_t w = send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (w < 0 && errno != EINTR) return std::string("send: ") + std::strerror(errno);
    if (w > 0) sent += static_cast<size_t>(w);
  }
  unsigned char h[4];
  if (std::string error = recv_all(fd, reinterpret_cast<char*>(h), 4); !error.empty()) return error;
  uint32_t len = uint32_t{h[0]} << 24 | uint32_t{h[1]} << 16 | uint32_t{h[2]} << 8 | h[3];
  if (len > kMaxReply) return "a reply of " + std::to_string(len) + " bytes (over 16 MiB)";
  reply.assign(len, '\0');
  return recv_all(fd, reply.data(), len);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string address = "127.0.0.1:1834", host = "127.0.0.1", port = "1834", error;
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << kUsage;
    return 0;
  }
  if (!args.empty() && split_address(args[0], host, port)) {
    address = args[0];
    args.erase(args.begin());
  } else if (!args.empty() && args[0].size() > 1 && args[0][0] == '-') {
    std::cerr << "frame_client: unknown option '" << args[0] << "'\n" << kUsage;
    return 2;
  }
  size_t next = 0;  // the messages: the arguments, else stdin's lines
  auto next_message = [&](std::string& msg) {
    if (args.empty()) return static_cast<bool>(std::getline(std::cin, msg));
    if (next == args.size()) return false;
    msg = args[next++];
    return true;
  };
  int fd = connect_to(host, port, &error);
  for (std::string msg, reply; fd >= 0 && error.empty() && next_message(msg);) {
    if (msg.empty()) continue;
    error = exchange(fd, msg, reply);
    if (error.empty()) std::cout << reply << '\n' << std::flush;
  }
  if (fd >= 0) close(fd);
  if (error.empty()) return 0;
  std::cerr << "frame_client: " << address << ": " << error << "\n";
  return 1;
}
