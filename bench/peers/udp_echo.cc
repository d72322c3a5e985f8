// gev-udp-echo: the hand-written UDP echo floors the UDP benchmarks compare against.
//   --mode mmsg    epoll, then recvmmsg of up to 32 datagrams and one sendmmsg of the
//                  replies, in place (the floor: nothing a server could do with less)
//   --mode plain   epoll, then recvfrom/sendto per datagram until EAGAIN (the usual way)
// One socket, one thread: the same shape as gev-host --loops 1.
//   gev-udp-echo --port 9000 [--mode mmsg|plain]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kBatch = 32;
constexpr size_t kSlot = 65536;
volatile std::sig_atomic_t g_stop = 0;

// Buffers made once (untouched pages stay unmapped).
uint8_t* buffers() {
  static std::vector<uint8_t> buf(kBatch * kSlot);
  return buf.data();
}

void serve_mmsg(int fd) {
  uint8_t* buf = buffers();
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  sockaddr_in6 from[kBatch];
  while (!g_stop) {
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {buf + static_cast<size_t>(i) * kSlot, kSlot};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = ::recvmmsg(fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;  // back to epoll
    for (int i = 0; i < n; ++i) iov[i].iov_len = msgs[i].msg_len;  // reply = request
    int done = 0;
    while (done < n) {
      int s = ::sendmmsg(fd, msgs + done, static_cast<unsigned>(n - done), 0);
      if (s <= 0) break;  // (a full socket buffer drops the rest, as UDP may)
      done += s;
    }
    if (n < kBatch) return;
  }
}

void serve_plain(int fd) {
  uint8_t* buf = buffers();
  for (;;) {
    sockaddr_in6 from;
    socklen_t len = sizeof from;
    ssize_t n = ::recvfrom(fd, buf, kSlot, MSG_DONTWAIT,
                           reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return;
    ::sendto(fd, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  std::string mode = "mmsg";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--port") port = std::atoi(argv[i + 1]);
    else if (a == "--mode") mode = argv[i + 1];
  }
  if (port <= 0 || port > 65535 || (mode != "mmsg" && mode != "plain")) {
    std::fprintf(stderr, "usage: gev-udp-echo --port P [--mode mmsg|plain]\n");
    return 2;
  }
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  std::signal(SIGINT, [](int) { g_stop = 1; });
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("gev-udp-echo: bind");
    return 1;
  }
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  while (!g_stop) {
    epoll_event got;
    int n = ::epoll_wait(ep, &got, 1, 100);
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    if (mode == "mmsg")
      serve_mmsg(fd);
    else
      serve_plain(fd);
  }
  ::close(ep);
  ::close(fd);
  return 0;
}
