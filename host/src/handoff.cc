#include "handoff.h"

#include <fcntl.h>
#include <gev/log.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <system_error>

namespace gev::host {

namespace {

constexpr size_t kMaxFds = 64;
constexpr int kStepTimeoutMs = 10000;

bool make_address(const std::string& path, sockaddr_un* a, std::string* error) {
  *a = {};
  a->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a->sun_path) {
    *error = "unix socket path '" + path + "' is empty or too long";
    return false;
  }
  std::memcpy(a->sun_path, path.data(), path.size());
  return true;
}

// One line (up to '\n', without it) within timeout_ms; false on EOF, error, timeout, or
// when `abort_fd` (if >= 0) becomes readable.
bool read_line(int fd, std::string* line, int timeout_ms, int abort_fd = -1) {
  line->clear();
  for (;;) {
    pollfd p[2] = {{fd, POLLIN, 0}, {abort_fd, POLLIN, 0}};
    if (::poll(p, abort_fd >= 0 ? 2 : 1, timeout_ms) <= 0 || (p[1].revents & POLLIN)) return false;
    char c;
    ssize_t n = ::read(fd, &c, 1);  // byte by byte: nothing past the line is consumed
    if (n <= 0) return false;
    if (c == '\n') return true;
    if (line->size() > 256) return false;
    line->push_back(c);
  }
}

bool write_all(int fd, const std::string& s) {
  return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
}

}  // namespace

HandoffServer::HandoffServer(std::string path, Collect collect, HandedOff handed_off)
    : path_(std::move(path)), collect_(std::move(collect)), handed_off_(std::move(handed_off)) {
  sockaddr_un a;
  std::string error;
  if (!make_address(path_, &a, &error)) throw std::invalid_argument(error);
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ::unlink(path_.c_str());  // a previous owner's file (it keeps its own bound socket)
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 ||
      ::listen(listen_fd_, 4) < 0 || ::pipe2(wake_, O_CLOEXEC) < 0) {
    int err = errno;
    if (listen_fd_ >= 0) ::close(listen_fd_);
    throw std::system_error(err, std::generic_category(), "hand-off socket " + path_);
  }
  ::chmod(path_.c_str(), 0600);  // only our user may take our sockets
  thread_ = std::thread([this] { run(); });
  GEV_INFO("hand-off socket %s: a new gev-host may take over with --takeover", path_.c_str());
}

HandoffServer::~HandoffServer() {
  done_ = true;
  if (wake_[1] >= 0) (void)::write(wake_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  for (int fd : wake_)
    if (fd >= 0) ::close(fd);
}

void HandoffServer::run() {
  while (!done_) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) return;
    if (done_ || (p[1].revents & POLLIN)) return;
    if (!(p[0].revents & POLLIN)) continue;
    int conn = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    bool handed = serve(conn);
    ::close(conn);
    if (handed) {
      // Our successor owns the path now: answer no one else.
      ::close(listen_fd_);
      listen_fd_ = -1;
      return;
    }
  }
}

bool HandoffServer::serve(int conn) {
  std::string line;
  if (!read_line(conn, &line, kStepTimeoutMs, wake_[0]) || line.rfind("GEV-TAKEOVER 1 ", 0) != 0) {
    GEV_WARN("hand-off: a request that is not a takeover ('%s'): ignored", line.c_str());
    return false;
  }
  std::string who = line.substr(15);
  std::vector<ActivatedSocket> sockets = collect_();
  if (sockets.empty() || sockets.size() > kMaxFds) {
    GEV_WARN("hand-off to pid %s: %zu sockets to pass: refused", who.c_str(), sockets.size());
    return false;
  }
  std::ostringstream manifest;
  manifest << sockets.size() << "\n";
  for (const auto& s : sockets) manifest << s.name << " " << s.address << "\n";
  std::string text = manifest.str();
  iovec iov{text.data(), text.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * sockets.size());
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * sockets.size());
  for (size_t i = 0; i < sockets.size(); ++i)
    std::memcpy(CMSG_DATA(c) + i * sizeof(int), &sockets[i].fd, sizeof(int));
  if (::sendmsg(conn, &msg, MSG_NOSIGNAL) != static_cast<ssize_t>(text.size())) {
    GEV_WARN("hand-off to pid %s: sending the sockets failed: %s", who.c_str(),
             std::strerror(errno));
    return false;
  }
  GEV_INFO("hand-off: passed %zu listening sockets to pid %s; serving on until it is ready",
           sockets.size(), who.c_str());
  // The successor loads its modules and starts; until READY we keep accepting too.
  if (!read_line(conn, &line, 5 * 60 * 1000, wake_[0]) || line != "READY") {
    GEV_WARN("hand-off to pid %s failed (it never said READY): still serving", who.c_str());
    return false;
  }
  handed_off_();
  write_all(conn, "OK\n");
  GEV_INFO("hand-off: pid %s serves our sockets; draining", who.c_str());
  return true;
}

bool request_takeover(const std::string& path, Takeover* out, std::string* error) {
  sockaddr_un a;
  if (!make_address(path, &a, error)) return false;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
    *error = "cannot reach " + path + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return false;
  }
  if (!write_all(fd, "GEV-TAKEOVER 1 " + std::to_string(::getpid()) + "\n")) {
    *error = "cannot write to " + path;
    ::close(fd);
    return false;
  }
  pollfd p{fd, POLLIN, 0};
  char text[8192];
  iovec iov{text, sizeof text - 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = ::poll(&p, 1, kStepTimeoutMs) > 0 ? ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC) : -1;
  std::vector<int> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); n > 0 && c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int passed;
      std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds.push_back(passed);
    }
  }
  auto fail = [&](std::string why) {
    for (int f : fds) ::close(f);
    ::close(fd);
    *error = std::move(why);
    return false;
  };
  if (n <= 0) return fail(path + " sent no sockets (timeout or closed)");
  text[n] = '\0';
  std::istringstream manifest(text);
  size_t count = 0;
  manifest >> count;
  if (count != fds.size() || (msg.msg_flags & MSG_CTRUNC))
    return fail("the manifest names " + std::to_string(count) + " sockets, " +
                std::to_string(fds.size()) + " arrived");
  for (size_t i = 0; i < count; ++i) {
    ActivatedSocket s;
    s.fd = fds[i];
    manifest >> s.name >> s.address;
    out->sockets.push_back(s);
  }
  out->conn = fd;
  return true;
}

bool confirm_takeover(Takeover& t, int timeout_ms, std::string* error) {
  std::string line;
  bool ok = write_all(t.conn, "READY\n") && read_line(t.conn, &line, timeout_ms) && line == "OK";
  if (!ok) *error = "the old process did not confirm the hand-off";
  ::close(t.conn);
  t.conn = -1;
  return ok;
}

}  // namespace gev::host
