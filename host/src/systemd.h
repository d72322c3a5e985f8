// systemd integration without libsystemd: socket activation (sd_listen_fds(3): the
// LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES protocol, fds from 3 up) and readiness
// notification (sd_notify(3): one datagram to $NOTIFY_SOCKET). Both are plain protocols
// any supervisor can speak; tests speak them without systemd.
#pragma once

#include <string>
#include <vector>

namespace gev::host {

struct ActivatedSocket {
  int fd = -1;
  std::string name;     // FileDescriptorName= (systemd's default is the unit name)
  std::string address;  // where it is bound, "ip:port"
};

// The sockets passed to this process, if LISTEN_PID names it; empty otherwise. Unsets
// the variables (children must not take them for theirs) and marks the fds close-on-exec.
std::vector<ActivatedSocket> take_activated_sockets();

// Sends `state` ("READY=1", "STOPPING=1", ...) to $NOTIFY_SOCKET if it is set. Returns
// false only if it is set and the send failed.
bool sd_notify(const std::string& state);

}  // namespace gev::host
