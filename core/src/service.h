// Service: what every connection of one server shares: its protocol, handler, options,
// counters (one cache line per loop) and the count of open connections.
#pragma once

#include <atomic>
#include <memory>

#include "gev/options.h"
#include "gev/protocol.h"
#include "gev/stats.h"

namespace gev::detail {

struct Service {
  Service(Protocol& p, Handler& h, const Options& o, size_t loop_count)
      : protocol(p),
        handler(h),
        options(o),
        counters(new LoopCounters[loop_count + 1]),
        counter_slots(loop_count + 1) {}

  // Counters for loop `index`; the acceptor thread uses the last slot.
  LoopCounters& counters_for(size_t index) {
    return counters[index < counter_slots ? index : counter_slots - 1];
  }

  Protocol& protocol;
  Handler& handler;
  Options options;
  std::unique_ptr<LoopCounters[]> counters;
  size_t counter_slots;
  std::atomic<size_t> live{0};  // open connections, all loops
};

}  // namespace gev::detail
