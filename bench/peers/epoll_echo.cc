// gev-epoll-echo: the benchmark "floor" -- a minimal single-threaded epoll
// echo server, i.e. the least work any server can do per message.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

constexpr int kMaxEvents = 256;
constexpr size_t kBufSize = 64 * 1024;

int ep = -1;
// Per-fd bytes the kernel did not accept yet. While non-empty the fd watches
// only EPOLLOUT, so a client that does not read gets backpressure instead of
// growing this buffer without bound.
std::vector<std::string> pending;
char buf[kBufSize];  // one read buffer shared by all connections

void Watch(int fd, int op, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(ep, op, fd, &ev) != 0) {
    std::perror("epoll_ctl");
    std::exit(1);
  }
}

void Close(int fd) {
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  pending[fd].clear();
  pending[fd].shrink_to_fit();
}

// Writes data; keeps any unwritten tail in pending[fd]. False if fd died.
bool Send(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n > 0) {
      data += n;
      len -= static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pending[fd].assign(data, len);
      return true;
    } else {
      return false;
    }
  }
  pending[fd].clear();
  return true;
}

void OnReadable(int fd) {
  ssize_t n = read(fd, buf, kBufSize);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    Close(fd);
    return;
  }
  if (n < 0) return;
  if (!Send(fd, buf, static_cast<size_t>(n))) {
    Close(fd);
  } else if (!pending[fd].empty()) {
    Watch(fd, EPOLL_CTL_MOD, EPOLLOUT);
  }
}

void OnWritable(int fd) {
  std::string rest;
  rest.swap(pending[fd]);  // Send() refills pending[fd] with what is left
  if (!Send(fd, rest.data(), rest.size())) {
    Close(fd);
  } else if (pending[fd].empty()) {
    Watch(fd, EPOLL_CTL_MOD, EPOLLIN);
  }
}

void Accept(int lfd) {
  for (;;) {
    int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      // EAGAIN: drained. Anything else (EMFILE, ECONNABORTED...) is per
      // connection; level-triggered epoll retries later.
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        std::perror("accept4");
      }
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (static_cast<size_t>(fd) >= pending.size()) pending.resize(fd * 2 + 1);
    Watch(fd, EPOLL_CTL_ADD, EPOLLIN);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int port = -1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--port" && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: %s --port P   (binds 127.0.0.1; 0 = any free port, "
                   "printed)\n",
                   argv[0]);
      return arg == "--help" ? 0 : 2;
    }
  }
  if (port < 0 || port > 65535) {
    std::fprintf(stderr, "%s: --port P is required\n", argv[0]);
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(addr);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(lfd, SOMAXCONN) != 0 ||
      getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  if (port == 0) {
    std::printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    std::fflush(stdout);
  }

  ep = epoll_create1(EPOLL_CLOEXEC);
  pending.resize(1024);
  Watch(lfd, EPOLL_CTL_ADD, EPOLLIN);
  epoll_event evs[kMaxEvents];
  for (;;) {
    int n = epoll_wait(ep, evs, kMaxEvents, -1);
    if (n < 0 && errno != EINTR) {
      std::perror("epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        Accept(lfd);
      } else if (!pending[fd].empty()) {
        OnWritable(fd);  // EPOLLOUT, or ERR/HUP which the write reports
      } else {
        OnReadable(fd);
      }
    }
  }
}
