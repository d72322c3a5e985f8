// TimerWheel: a hierarchical timing wheel with millisecond ticks, used for idle timeouts.
//
// Five levels of 64 slots cover 2^30 ms (12 days); later deadlines are clamped. Schedule
// and cancel are O(1) on intrusive nodes (no allocation); a per-level occupancy bitmap
// finds the next deadline without scanning, so a loop with only far deadlines sleeps
// instead of ticking. Entries in upper levels are re-filed ("cascaded") into lower ones
// as time approaches, so every node fires on its exact tick. One loop thread only.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

namespace gev {

class TimerWheel {
 public:
  struct Node {
    Node* prev = nullptr;
    Node* next = nullptr;
    uint64_t expires = 0;
    void (*fire)(Node*) = nullptr;  // called once when due; may reschedule the node
    bool linked() const { return next != nullptr; }
  };

  explicit TimerWheel(uint64_t now_ms = 0);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // (Re)arms `node` to fire at `expires_ms` (at least one tick from now).
  void schedule(Node* node, uint64_t expires_ms);
  void cancel(Node* node);

  // Fires every node due at or before now_ms, in deadline order by tick.
  void advance(uint64_t now_ms) {
    if (count_ == 0) {
      if (now_ms > now_) now_ = now_ms;
      return;
    }
    advance_slow(now_ms);
  }

  // The earliest tick at which advance() may have work: a level-0 deadline (exact) or
  // the next cascade of a higher level, whichever comes first; never later than the
  // earliest deadline. nullopt when empty.
  std::optional<uint64_t> next_event() const {
    if (count_ == 0) return std::nullopt;
    return next_event_slow();
  }

  uint64_t now() const { return now_; }
  size_t size() const { return count_; }

 private:
  static constexpr int kBits = 6;
  static constexpr int kSlots = 1 << kBits;
  static constexpr int kLevels = 5;

  struct Slot {
    Node head;  // sentinel of a circular list
  };

  void advance_slow(uint64_t now_ms);
  std::optional<uint64_t> next_event_slow() const;
  void insert(Node* node);
  void process_tick(uint64_t tick);
  static void link(Node* head, Node* node);
  static void unlink(Node* node);

  uint64_t now_;
  size_t count_ = 0;
  std::array<uint64_t, kLevels> occupied_{};
  std::array<std::array<Slot, kSlots>, kLevels> slots_;
};

}  // namespace gev
