// Counters: a service's per-loop counters summed, and the names of close and drop reasons.
#include "gev/stats.h"

#include "server_internal.h"

namespace gev {

namespace detail {
Stats stats_of(const Service& svc) {
  Stats s;
  uint64_t opened = 0, closed = 0;
  for (size_t i = 0; i < svc.counter_slots; ++i) {
    const LoopCounters& c = svc.counters[i];
    s.accepted += c.accepted.get();
    s.refused += c.refused.get();
    s.accept_errors += c.accept_errors.get();
    opened += c.opened.get();
    for (size_t r = 0; r < s.closed.size(); ++r) {
      s.closed[r] += c.closed[r].get();
      closed += c.closed[r].get();
    }
    s.bytes_in += c.bytes_in.get();
    s.bytes_out += c.bytes_out.get();
    s.messages_in += c.messages_in.get();
    s.messages_out += c.messages_out.get();
    s.output_buffered += c.output_buffered.get();
    s.dials += c.dials.get();
    s.datagrams_in += c.datagrams_in.get();
    s.datagrams_out += c.datagrams_out.get();
    for (size_t r = 0; r < s.datagram_drops.size(); ++r) s.datagram_drops[r] += c.datagram_drops[r].get();
    for (size_t r = 0; r < s.dial_failures.size(); ++r) s.dial_failures[r] += c.dial_failed[r].get();
  }
  s.open = opened > closed ? opened - closed : 0;  // counters are read one by one
  return s;
}
}  // namespace detail

const char* to_string(DatagramDrop d) {
  switch (d) {
    case DatagramDrop::kDecodeError:
      return "decode_error";
    case DatagramDrop::kTruncated:
      return "truncated";
    case DatagramDrop::kPeerCap:
      return "peer_cap";
    case DatagramDrop::kSendError:
      return "send_error";
    case DatagramDrop::kCount:
      break;
  }
  return "unknown";
}

const char* to_string(CloseReason r) {
  switch (r) {
    case CloseReason::kPeerClosed:
      return "peer_closed";
    case CloseReason::kPeerReset:
      return "peer_reset";
    case CloseReason::kLocal:
      return "local";
    case CloseReason::kIdleTimeout:
      return "idle_timeout";
    case CloseReason::kSlowConsumer:
      return "slow_consumer";
    case CloseReason::kInputOverflow:
      return "input_overflow";
    case CloseReason::kDecodeError:
      return "decode_error";
    case CloseReason::kServerStop:
      return "server_stop";
    case CloseReason::kDrainTimeout:
      return "drain_timeout";
    case CloseReason::kTransportError:
      return "transport_error";
    case CloseReason::kCount:
      break;
  }
  return "unknown";
}

}  // namespace gev
