// TimerQueue implementation: lazy deletion (a cancelled id stays in the heap until it
// surfaces, or until cancelled ones are half the heap), so cancel is O(1) amortized and
// the heap never needs a search.
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
  bool rearmed = !timers_.insert_or_assign(id, Timer{when_ns, interval_ns, std::move(cb)}).second;
  push(when_ns, id);
  if (rearmed) {  // its old deadline is a stale entry now, maybe the top
    ++stale_;
    drop_cancelled_top();
  }
}

bool TimerQueue::cancel(TimerId id) {
  if (timers_.erase(id) == 0) return false;
  ++stale_;  // its heap entry stays until it surfaces, unless it is the top: the top is
  // always live, so run_due looks at nothing before a deadline and next_deadline is exact
  if (heap_.front().id == id) {
    drop_cancelled_top();
  } else if (stale_ > 64 && stale_ * 2 > heap_.size()) {
    compact();  // cancelled entries are most of the heap: one pass drops them all
  }
  return true;
}

bool TimerQueue::live(const HeapEntry& e) const {
  auto it = timers_.find(e.id);
  return it != timers_.end() && it->second.when == e.when;
}

void TimerQueue::compact() {
  std::erase_if(heap_, [this](const HeapEntry& e) { return !live(e); });
  std::make_heap(heap_.begin(), heap_.end(), std::greater<>{});
  stale_ = 0;
}

void TimerQueue::drop_cancelled_top() {
  while (!heap_.empty()) {
    // Stale if cancelled, or if the timer was re-armed and this entry is an old deadline.
    if (live(heap_.front())) return;
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
