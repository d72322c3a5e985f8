// DialTable: the outbound connection attempts of one loop (Server::connect), each a
// non-blocking connect(2) watched for writability, with a deadline timer, its candidate
// addresses tried in turn, and optional reconnects with backoff. Loop thread only, except
// where marked; the server owns one per worker loop.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "gev/dial.h"
#include "gev/event_loop.h"
#include "gev/socket_address.h"

namespace gev::detail {

struct Service;
class Resolver;
struct Dial;

class DialTable {
 public:
  DialTable(EventLoop& loop, Resolver& resolver, const std::atomic<bool>& stopping);
  ~DialTable();
  DialTable(const DialTable&) = delete;
  DialTable& operator=(const DialTable&) = delete;

  // Starts dial `id` for `service` (a dialer's). Ends in the handler's on_connect (a
  // Connection, outbound) or on_connect_failed, after retries if opts.reconnect.
  void begin(DialId id, Service& service, std::string address, ConnectOptions opts);
  // Stops dial `id`: an attempt in progress or a retry waiting fails with kCancelled (no
  // retry); an established connection stays open but is not redialled when it closes.
  void cancel(DialId id);
  // The stop: every dial ends as cancel() ends it.
  void cancel_all();
  size_t size() const { return dials_.size(); }  // dials in progress or reconnecting

 private:
  friend struct Dial;
  Dial* find(DialId id);
  void attempt(Dial& d);
  void resolved(DialId id, uint64_t attempt, int gai_error, std::vector<SocketAddress> found);
  void try_next(Dial& d);
  void writable(Dial& d);
  void connected(Dial& d);
  void fail(Dial& d, DialError reason, int error);
  void closed(DialId id, bool stopped);
  void schedule_retry(Dial& d);
  void drop_socket(Dial& d);
  void erase(DialId id);

  EventLoop& loop_;
  Resolver& resolver_;
  const std::atomic<bool>& stopping_;
  std::unordered_map<DialId, std::unique_ptr<Dial>> dials_;
  uint64_t rng_;  // jitter (xorshift; no need for a good generator)
};

// A socket error from a failed connect as a DialError.
DialError dial_error_of(int err);

}  // namespace gev::detail
