// HostProcess implementation: fork/exec with stdout+stderr on a pipe, poll(2) with deadlines.
#include "host_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <thread>

namespace gev::test {

HostProcess::HostProcess(const std::string& binary, const std::vector<std::string>& args,
                         int timeout_ms, size_t listeners, const Inherit& inherit) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return;
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(p[1], 1);
    ::dup2(p[1], 2);
    // Out of the way first, so placing one fd cannot clobber another still to be placed.
    for (size_t i = 0; i < inherit.fds.size(); ++i)
      ::dup2(inherit.fds[i], 200 + static_cast<int>(i));
    for (size_t i = 0; i < inherit.fds.size(); ++i)
      ::dup2(200 + static_cast<int>(i), 3 + static_cast<int>(i));  // dup2 clears CLOEXEC
    for (const std::string& e : inherit.env) ::putenv(const_cast<char*>(e.c_str()));
    if (inherit.listen_pid) ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    _exit(127);
  }
  ::close(p[1]);
  out_fd_ = p[0];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  static const std::regex listening(R"(listening on [0-9.]+:([0-9]+))");
  while (std::chrono::steady_clock::now() < deadline) {
    pump(50);
    std::vector<uint16_t> found;
    for (auto it = std::sregex_iterator(log_.begin(), log_.end(), listening);
         it != std::sregex_iterator(); ++it)
      found.push_back(static_cast<uint16_t>(std::stoi((*it)[1])));
    if (found.size() >= listeners) {
      ports_ = found;
      return;
    }
    if (wait_exit(0) >= 0) return;  // exited without listening
  }
}

HostProcess::~HostProcess() {
  terminate();
  if (out_fd_ >= 0) ::close(out_fd_);
}

void HostProcess::pump(int timeout_ms) {
  if (out_fd_ < 0) return;
  pollfd pfd{out_fd_, POLLIN, 0};
  while (::poll(&pfd, 1, timeout_ms) > 0) {
    char buf[4096];
    ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n <= 0) break;
    log_.append(buf, static_cast<size_t>(n));
    timeout_ms = 0;
  }
}

const std::string& HostProcess::log() {
  pump(0);
  return log_;
}

int HostProcess::wait_exit(int timeout_ms) {
  if (status_ >= 0 || pid_ <= 0) return status_;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      pump(0);
      return status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    pump(5);
  }
}

void HostProcess::terminate() {
  if (pid_ <= 0 || status_ >= 0) return;
  ::kill(pid_, SIGTERM);
  if (wait_exit(5000) < 0) {
    ::kill(pid_, SIGKILL);
    wait_exit(5000);
  }
}

}  // namespace gev::test
