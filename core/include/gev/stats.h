// Stats: a server's counters. Each loop writes its own cache line (no shared atomics on
// the hot path); stats() sums them, so a snapshot is consistent per counter, not across.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "gev/dial.h"

namespace gev {

enum class CloseReason : uint8_t {
  kPeerClosed,     // the peer closed (EOF) and pending output was flushed
  kPeerReset,      // read or write error (ECONNRESET, EPIPE, ...)
  kLocal,          // the handler or the application called close()
  kIdleTimeout,    // no I/O for Options::idle_timeout
  kSlowConsumer,   // unsent output exceeded Options::max_write_buffer
  kInputOverflow,  // undecoded input exceeded Options::max_read_buffer
  kDecodeError,    // the protocol rejected the input
  kServerStop,     // the server stopped
  kDrainTimeout,   // a drain (reload or hand-off) reached its deadline
  kTransportError, // the transport failed (a TLS handshake or record), or was truncated
  kCount
};
const char* to_string(CloseReason r);

// Why a UDP listener dropped a datagram (Stats::datagram_drops).
enum class DatagramDrop : uint8_t {
  kDecodeError,  // the protocol did not take it as exactly one frame
  kTruncated,    // longer than Options::max_datagram
  kPeerCap,      // from a new peer while max_connections peers were open
  kSendError,    // a reply the socket refused (too large, no route) or that found it stopped
  kCount
};
const char* to_string(DatagramDrop d);

struct Stats {
  uint64_t accepted = 0;
  uint64_t refused = 0;        // over max_connections: accepted and closed at once
  uint64_t accept_errors = 0;  // EMFILE/ENFILE and other accept failures
  uint64_t open = 0;
  std::array<uint64_t, static_cast<size_t>(CloseReason::kCount)> closed{};
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t messages_in = 0;
  uint64_t messages_out = 0;
  uint64_t output_buffered = 0;  // bytes encoded but not yet taken by sockets, now
  // A dialer's (Server::connect): attempts begun (each reconnect is one), and those that
  // failed by reason; its connections are counted in open and closed as a listener's.
  uint64_t dials = 0;
  std::array<uint64_t, static_cast<size_t>(DialError::kCount)> dial_failures{};
  // A UDP listener's: datagrams read and sent (bytes_in/out count their payloads; a
  // peer is counted in accepted, open and closed as a connection is).
  uint64_t datagrams_in = 0;
  uint64_t datagrams_out = 0;
  std::array<uint64_t, static_cast<size_t>(DatagramDrop::kCount)> datagram_drops{};
};

namespace detail {

// Written by one thread (relaxed load+store, no lock prefix), read by any.
class Counter {
 public:
  void add(uint64_t n) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

struct alignas(64) LoopCounters {
  Counter accepted, refused, accept_errors, opened;
  std::array<Counter, static_cast<size_t>(CloseReason::kCount)> closed;
  Counter bytes_in, bytes_out, messages_in, messages_out;
  Counter output_buffered;  // a gauge: rises and falls (modulo 2^64, summed the same way)
  Counter dials;
  std::array<Counter, static_cast<size_t>(DialError::kCount)> dial_failed;
  Counter datagrams_in, datagrams_out;
  std::array<Counter, static_cast<size_t>(DatagramDrop::kCount)> datagram_drops;
};

}  // namespace detail
}  // namespace gev
