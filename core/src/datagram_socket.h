// DatagramSocket: one bound UDP socket on one loop, serving its peers as light
// connections. Each readiness report reads one batch (recvmmsg where the platform has
// it, else recvmsg in a loop) into the socket's own slots, gives each datagram to its
// peer's connection (made on the peer's first datagram, kept in a table, expired by the
// idle timeout), and sends the replies that batch produced with one sendmmsg.
//
// Output is one datagram per send: the socket copies it into its queue, which leaves at
// the end of the batch (or at once outside one). A socket buffer that is full (EAGAIN)
// keeps the queue, watches for writability and reads nothing until it has drained: the
// same backpressure a stream connection has, bounded by kMaxQueuedBytes (beyond it a
// send is dropped and counted).
#pragma once

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "gev/event_loop.h"
#include "gev/socket_address.h"
#include "gev/stats.h"

namespace gev {
class Connection;
}

namespace gev::detail {

struct Service;

// Opens and binds a non-blocking, close-on-exec UDP socket (SO_REUSEPORT when asked, so
// every loop binds its own on one port). Throws std::system_error naming the address.
int open_datagram_socket(const SocketAddress& addr, bool reuse_port);
// Checks that fd is a bound datagram socket and makes it non-blocking and close-on-exec;
// throws std::invalid_argument saying what is wrong otherwise.
void adopt_datagram_socket(int fd);
// Whether fd has SO_REUSEPORT set (more sockets may join its port).
bool datagram_reuses_port(int fd);

class DatagramSocket final : public IoHandler {
 public:
  static constexpr int kBatch = 32;                    // datagrams per readiness report
  static constexpr size_t kMaxQueuedBytes = 4u << 20;  // replies waiting for the socket

  // Takes ownership of fd. Loop thread from start() on.
  DatagramSocket(EventLoop& loop, int fd, Service& service);
  ~DatagramSocket();
  DatagramSocket(const DatagramSocket&) = delete;
  DatagramSocket& operator=(const DatagramSocket&) = delete;

  void start();  // loop thread
  // Loop thread; idempotent. Sends what is queued (what the socket takes now), closes
  // every peer (on_close, reason `reason`), then the socket.
  void stop(CloseReason reason = CloseReason::kServerStop);
  int fd() const { return fd_.load(); }  // any thread (a hand-off reads it)
  size_t peer_count() const { return peers_.size(); }
  void handle_io(uint32_t mask) override;

  // ---- for the peers' connections (loop thread) ----
  // One datagram to `to`, gathered from iov: queued, sent with the batch (at once outside
  // one). false: dropped (queue full or the socket stopped), counted as a send error.
  bool send(const SocketAddress& to, const iovec* iov, int count);
  void forget(Connection& peer);  // its finish_close
  void count_drop(DatagramDrop why);

 private:
  struct Key {
    std::array<uint8_t, 16> addr{};
    uint16_t port = 0;
    uint8_t family = 0;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct Queued {
    size_t offset;
    size_t size;
    SocketAddress to;
  };
  static Key key_of(const SocketAddress& a);

  int receive(int max);  // fills slots; count received, 0 when none, -1 on a hard error
  void dispatch(int n);
  Connection* peer_for(const SocketAddress& from);
  void flush();  // sends the queue; on EAGAIN keeps the rest and watches for writability
  size_t gso_run(size_t first) const;
  void set_interest(uint32_t want);
  LoopCounters& counters();

  EventLoop& loop_;
  std::atomic<int> fd_;  // written on the loop thread only
  Service& service_;
  size_t slot_size_;  // Options::max_datagram: a longer datagram is truncated, dropped
  bool started_ = false;
  bool in_batch_ = false;
  uint32_t interest_ = 0;
  // Receive slots (untouched pages cost no memory) and their headers.
  std::unique_ptr<uint8_t[]> slots_;
  std::vector<iovec> slot_iov_;
  std::vector<SocketAddress> slot_from_;
  std::vector<uint32_t> slot_len_;
  std::vector<int> slot_flags_;
  // The peers, and the last one found (a peer sending several datagrams in a row).
  std::unordered_map<Key, Connection*, KeyHash> peers_;
  Key last_key_;
  Connection* last_peer_ = nullptr;
  // Output waiting for sendmmsg.
  std::vector<uint8_t> out_bytes_;
  std::vector<Queued> out_;
  size_t out_sent_ = 0;  // datagrams of out_ already sent (an EAGAIN mid-queue)
  // Replies to one peer in a row leave as one UDP_SEGMENT send (Linux GSO) until the
  // kernel refuses it once.
  static constexpr size_t kMaxSegments = 64;
#if defined(UDP_SEGMENT) && defined(__linux__) && !defined(GEV_MACOS_SOCKETS)
  bool gso_ = true;
#else
  bool gso_ = false;
#endif
};

}  // namespace gev::detail
