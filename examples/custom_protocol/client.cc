// custom_client PORT [COUNT]: sends COUNT framed messages of growing size to 127.0.0.1:PORT
// in one burst and checks that each comes back framed and intact. Exit 0 on success.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

static bool read_n(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: custom_client PORT [COUNT]\n");
    return 2;
  }
  int port = std::atoi(argv[1]);
  int count = argc > 2 ? std::atoi(argv[2]) : 100;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};  // bounded: a broken server cannot hang the test
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("connect");
    return 1;
  }
  std::string out;
  for (int i = 0; i < count; ++i) {
    std::string payload = "message " + std::to_string(i) + std::string(static_cast<size_t>(i), 'x');
    uint32_t n = htonl(static_cast<uint32_t>(payload.size()));
    out.append(reinterpret_cast<const char*>(&n), 4);
    out += payload;
  }
  if (write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size())) return 1;
  std::string back(out.size(), '\0');
  if (!read_n(fd, back.data(), back.size()) || back != out) {
    std::fprintf(stderr, "custom_client: echo mismatch\n");
    return 1;
  }
  std::printf("custom_client: %d framed messages echoed intact\n", count);
  close(fd);
  return 0;
}
