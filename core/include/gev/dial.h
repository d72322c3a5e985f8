// Dialing: outbound connections on the loops (gev has none; this is its missing client).
//
//   size_t up = server.add_dialer(handler, options);      // handler + protocol + limits
//   server.connect(up, "127.0.0.1:6379");                 // on_connect, or on_connect_failed
//
// A dialed connection is an ordinary Connection once connected: the same read and write
// paths, backpressure, half-close, idle timeout and on_close exactly once.
#pragma once

#include <any>
#include <chrono>
#include <cstdint>
#include <string>

namespace gev {

class EventLoop;

enum class DialError : uint8_t {
  kRefused,        // ECONNREFUSED: nothing listens there
  kTimedOut,       // no answer within ConnectOptions::timeout (or the kernel's ETIMEDOUT)
  kUnreachable,    // ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL
  kResolveFailed,  // the host name did not resolve (or the address is malformed)
  kCancelled,      // the server stopped, or the dial was cancelled, before it finished
  kOther,          // any other socket error (errno says which)
  kCount
};
const char* to_string(DialError e);

// A dial in progress or a reconnecting one, to cancel. 0 is none.
using DialId = uint64_t;

struct ConnectOptions {
  // Resolution and connect together; 0: only the kernel's own limit.
  std::chrono::milliseconds timeout{10000};
  // The loop that owns the connection (a proxy dials on the loop of the connection it
  // serves); null: the dialer's Options::load_balance picks one.
  EventLoop* loop = nullptr;
  // Becomes the connection's context() before on_connect; on_connect_failed sees it too.
  std::any context;
  // Dial again after a failure, and after an established connection closes for any reason
  // but a stop or cancel_dial(): after reconnect_min, doubling to reconnect_max, each
  // delay drawn from [d/2, d] (jitter, so a fleet does not come back in step). The delay
  // starts from reconnect_min again once a connection is established.
  bool reconnect = false;
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{30000};
};

// What on_connect_failed is told; valid during the call.
struct DialFailure {
  const std::string& address;  // as given to connect()
  DialError reason;
  int error;                   // errno when the system gave one (EAI_* for a resolve failure)
  std::any& context;           // ConnectOptions::context
  EventLoop& loop;             // the loop it ran on (the callback's thread)
  DialId id;
  bool will_retry;             // reconnect is on: another attempt is scheduled
};

}  // namespace gev
