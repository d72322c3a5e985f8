// udp_kv_client: one request to a udp_kv server, its reply on stdout. A lost datagram is
// sent again (up to 5 times, 200 ms apart): every request is safe to repeat.
//   udp_kv_client 127.0.0.1:5300 SET colour blue      -> OK
//   udp_kv_client 127.0.0.1:5300 GET colour           -> VALUE blue
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: udp_kv_client HOST:PORT SET key value | GET key | DEL key\n");
    return 2;
  }
  std::string where = argv[1];
  size_t colon = where.rfind(':');
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(std::atoi(where.c_str() + colon + 1)));
  if (colon == std::string::npos || inet_pton(AF_INET, where.substr(0, colon).c_str(), &to.sin_addr) != 1) {
    std::fprintf(stderr, "udp_kv_client: '%s' is not IPv4:PORT\n", argv[1]);
    return 2;
  }
  std::string req = argv[2];
  for (int i = 3; i < argc; ++i) req += std::string(" ") + argv[i];
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  char buf[65536];
  for (int attempt = 0; attempt < 5; ++attempt) {
    ::sendto(fd, req.data(), req.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) != 1) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) continue;
    std::printf("%.*s\n", static_cast<int>(n), buf);
    ::close(fd);
    return 0;
  }
  std::fprintf(stderr, "udp_kv_client: no reply from %s\n", argv[1]);
  ::close(fd);
  return 1;
}
