// TimerQueue implementation: lazy deletion (a cancelled id stays in the heap until it
// surfaces), so cancel is O(1) and the heap never needs a search.
#include "gev/timer_queue.h"

#include <algorithm>
#include <atomic>

namespace gev {

TimerId TimerQueue::next_id() {
  static std::atomic<TimerId> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

void TimerQueue::push(int64_t when, TimerId id) {
  heap_.push_back({when, seq_++, id});
  std::push_heap(heap_.begin(), heap_.end(), std::greater<>{});
}

void TimerQueue::add(TimerId id, int64_t when_ns, int64_t interval_ns, Callback cb) {
  timers_[id] = Timer{when_ns, interval_ns, std::move(cb)};
  push(when_ns, id);
}

bool TimerQueue::cancel(TimerId id) {
  if (timers_.erase(id) == 0) return false;
  ++stale_;  // its heap entry stays until it surfaces
  return true;
}

void TimerQueue::drop_cancelled_top() {
  while (!heap_.empty()) {
    const HeapEntry& top = heap_.front();
    auto it = timers_.find(top.id);
    // Stale if cancelled, or if the timer was re-armed and this entry is an old deadline.
    if (it != timers_.end() && it->second.when == top.when) return;
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>{});
    heap_.pop_back();
    if (stale_ > 0) --stale_;
  }
}

void TimerQueue::run_due_slow(int64_t now_ns) {
  for (;;) {
    drop_cancelled_top();
    if (heap_.empty() || heap_.front().when > now_ns) return;
    HeapEntry top = heap_.front();
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>{});
    heap_.pop_back();
    auto it = timers_.find(top.id);
    Timer& t = it->second;
    if (t.interval > 0) {
      t.when += t.interval;
      // A loop that stalled past several periods skips them rather than firing a burst.
      if (t.when <= now_ns) t.when += ((now_ns - t.when) / t.interval + 1) * t.interval;
      push(t.when, top.id);
      // Copy: the callback may cancel its own timer, which destroys `t`.
      Callback cb = t.cb;
      cb();
    } else {
      Callback cb = std::move(t.cb);
      timers_.erase(it);
      cb();
    }
  }
}

}  // namespace gev
