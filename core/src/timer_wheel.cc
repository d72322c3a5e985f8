// TimerWheel implementation (see the header for the scheme).
#include "gev/timer_wheel.h"

#include <bit>

namespace gev {

namespace {
constexpr uint64_t level_span(int level) {
  return uint64_t{1} << (6 * level);
}
}  // namespace

TimerWheel::TimerWheel(uint64_t now_ms) : now_(now_ms) {
  for (auto& level : slots_)
    for (auto& slot : level) slot.head.prev = slot.head.next = &slot.head;
}

void TimerWheel::link(Node* head, Node* node) {
  node->prev = head->prev;
  node->next = head;
  head->prev->next = node;
  head->prev = node;
}

void TimerWheel::unlink(Node* node) {
  node->prev->next = node->next;
  node->next->prev = node->prev;
  node->prev = node->next = nullptr;
}

void TimerWheel::insert(Node* node) {
  // Callers guarantee expires >= now_; expires == now_ only while processing tick now_.
  uint64_t delta = node->expires - now_;
  int level = 0;
  while (level < kLevels - 1 && delta >= level_span(level + 1)) ++level;
  if (delta >= level_span(kLevels)) node->expires = now_ + level_span(kLevels) - 1;
  int slot = static_cast<int>((node->expires >> (kBits * level)) & (kSlots - 1));
  link(&slots_[level][slot].head, node);
  occupied_[level] |= uint64_t{1} << slot;
}

void TimerWheel::schedule(Node* node, uint64_t expires_ms) {
  if (node->linked()) cancel(node);
  node->expires = expires_ms > now_ ? expires_ms : now_ + 1;
  insert(node);
  ++count_;
}

void TimerWheel::cancel(Node* node) {
  if (!node->linked()) return;
  // The slot may become empty; the bit is cleared lazily when that slot is visited,
  // which costs at most one spurious wake-up.
  unlink(node);
  --count_;
}

std::optional<uint64_t> TimerWheel::next_event_slow() const {
  std::optional<uint64_t> best;
  for (int level = 0; level < kLevels; ++level) {
    uint64_t bits = occupied_[level];
    if (bits == 0) continue;
    // A level-L slot s is visited at the tick whose level-L digit is s and whose lower
    // digits are zero (level 0: every tick). Find the first such tick after now_.
    uint64_t unit = level_span(level);
    uint64_t cycle = level_span(level + 1);
    uint64_t base = now_ & ~(cycle - 1);
    uint64_t cur = (now_ >> (kBits * level)) & (kSlots - 1);
    // Slots strictly after the current one in this rotation, else the first in the next.
    uint64_t later = cur + 1 < kSlots ? bits & (~uint64_t{0} << (cur + 1)) : 0;
    uint64_t tick = later ? base + static_cast<uint64_t>(std::countr_zero(later)) * unit
                          : base + cycle + static_cast<uint64_t>(std::countr_zero(bits)) * unit;
    if (!best || tick < *best) best = tick;
  }
  return best;
}

void TimerWheel::process_tick(uint64_t tick) {
  now_ = tick;
  // Cascade from the highest level whose digit rolled over, down to level 1, so that an
  // entry can fall several levels and still fire in this tick's level-0 slot.
  int top = 0;
  while (top + 1 < kLevels && (tick & (level_span(top + 1) - 1)) == 0) ++top;
  for (int level = top; level >= 1; --level) {
    int slot = static_cast<int>((tick >> (kBits * level)) & (kSlots - 1));
    Node& head = slots_[level][slot].head;
    occupied_[level] &= ~(uint64_t{1} << slot);
    while (head.next != &head) {
      Node* n = head.next;
      unlink(n);
      insert(n);
    }
  }
  int slot = static_cast<int>(tick & (kSlots - 1));
  Node& head = slots_[0][slot].head;
  occupied_[0] &= ~(uint64_t{1} << slot);
  // Detach the due list first: callbacks may cancel or reschedule any node, this one
  // included, and a node rescheduled for a later tick must not be seen again here.
  Node due;
  due.prev = due.next = &due;
  if (head.next != &head) {
    due.next = head.next;
    due.prev = head.prev;
    due.next->prev = &due;
    due.prev->next = &due;
    head.prev = head.next = &head;
  }
  while (due.next != &due) {
    Node* n = due.next;
    unlink(n);
    --count_;
    n->fire(n);
  }
}

void TimerWheel::advance_slow(uint64_t now_ms) {
  while (now_ < now_ms) {
    std::optional<uint64_t> next = next_event();
    if (!next || *next > now_ms) {
      now_ = now_ms;
      return;
    }
    process_tick(*next);
  }
}

}  // namespace gev
