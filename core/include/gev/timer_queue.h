// TimerQueue: the run_after / run_every timers of one loop, kept in a binary heap.
//
// Ids are unique per process and never reused, so cancelling a fired or unknown id is a
// harmless no-op. A run_every timer is re-armed from its previous deadline, not from when
// its callback ran, so it does not drift. One loop thread only; the loop offers the
// thread-safe wrappers.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

namespace gev {

using TimerId = uint64_t;

class TimerQueue {
 public:
  using Callback = std::function<void()>;

  // Reserves an id; usable from any thread (the add itself must run on the loop).
  static TimerId next_id();

  // interval_ns 0: fires once at when_ns. Otherwise first at when_ns, then every interval.
  void add(TimerId id, int64_t when_ns, int64_t interval_ns, Callback cb);
  // Returns false if the id was not pending (already fired or cancelled).
  bool cancel(TimerId id);
  // Runs every timer due at or before now_ns. Callbacks may add or cancel timers.
  void run_due(int64_t now_ns) {
    // (The top is always live: a cancelled entry under it waits until it surfaces.)
    if (!heap_.empty() && heap_.front().when <= now_ns) run_due_slow(now_ns);
  }
  std::optional<int64_t> next_deadline() const {
    if (heap_.empty()) return std::nullopt;
    return heap_.front().when;
  }
  size_t size() const { return timers_.size(); }
  // Heap entries, cancelled ones included (at most about twice size() past a burst).
  size_t heap_entries() const { return heap_.size(); }

 private:
  struct HeapEntry {
    int64_t when;
    uint64_t seq;  // insertion order breaks ties: timers due together fire FIFO
    TimerId id;
    bool operator>(const HeapEntry& o) const {
      return when != o.when ? when > o.when : seq > o.seq;
    }
  };
  struct Timer {
    int64_t when;
    int64_t interval;
    Callback cb;
  };

  void run_due_slow(int64_t now_ns);
  void push(int64_t when, TimerId id);
  void drop_cancelled_top();
  void compact();
  bool live(const HeapEntry& e) const;

  std::vector<HeapEntry> heap_;  // min-heap via std::push_heap with greater<>
  std::unordered_map<TimerId, Timer> timers_;
  uint64_t seq_ = 0;
  size_t stale_ = 0;  // heap entries whose timer was cancelled or re-armed
};

}  // namespace gev
