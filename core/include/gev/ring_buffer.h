// RingBuffer: a byte FIFO for a connection's input leftovers and unsent output.
//
// Memory is allocated lazily (an idle connection holds none), grows by doubling up to a
// cap, and shrink() gives it back once drained. Capacity is a power of two so positions
// are free-running 64-bit counters masked on access. Not thread-safe: a buffer belongs
// to one connection and is touched only on that connection's loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

namespace gev {

class RingBuffer {
 public:
  // Up to two contiguous pieces; second is empty unless the data wraps.
  struct Spans {
    std::span<const uint8_t> first;
    std::span<const uint8_t> second;
    size_t size() const { return first.size() + second.size(); }
  };

  static constexpr size_t kDefaultInitial = 1024;

  // max_capacity 0 means unbounded. Both are rounded up to powers of two.
  explicit RingBuffer(size_t max_capacity = 0, size_t initial_capacity = kDefaultInitial);
  // A moved-from buffer is empty and unallocated, with the same limits.
  RingBuffer(RingBuffer&& other) noexcept;
  RingBuffer& operator=(RingBuffer&& other) noexcept;

  size_t size() const { return static_cast<size_t>(tail_ - head_); }
  bool empty() const { return tail_ == head_; }
  size_t capacity() const { return mask_ + (data_ ? 1 : 0); }
  size_t max_capacity() const { return max_capacity_; }

  // Appends n bytes, growing as needed. Returns false (and appends nothing) if the
  // result would exceed the cap.
  [[nodiscard]] bool write(const void* src, size_t n);
  [[nodiscard]] bool write(std::span<const uint8_t> s) { return write(s.data(), s.size()); }

  // Views of the first min(n, size()) readable bytes; valid until the next mutation.
  Spans peek(size_t n) const;
  Spans peek_all() const { return peek(size()); }
  // Copies min(n, size()) bytes from `offset` without consuming; returns the count.
  size_t copy_out(size_t offset, void* dst, size_t n) const;
  // Copies and consumes up to n bytes; returns the count.
  size_t read(void* dst, size_t n);
  // Drops up to n bytes from the front; the memory is released only by shrink().
  void consume(size_t n);
  void clear() { head_ = tail_ = vhead_ = 0; }

  // Makes the readable bytes contiguous (one copy, only if they wrap) and returns them.
  std::span<const uint8_t> linearize();

  // Contiguous writable space of at least n bytes at the tail (grows or linearizes as
  // needed); nullptr if the cap forbids. Fill it, then commit() what was written.
  uint8_t* reserve(size_t n);
  void commit(size_t n) { tail_ += n; }

  // Gives memory back: all of it when empty, or halves while three quarters are unused.
  void shrink();

  // Big-endian integer at `offset` from the front, without consuming. False if short.
  template <typename T>
  bool peek_be(size_t offset, T* out) const {
    uint8_t b[sizeof(T)];
    if (copy_out(offset, b, sizeof b) != sizeof b) return false;
    T v = 0;
    for (uint8_t byte : b) v = static_cast<T>((v << 8) | byte);
    *out = v;
    return true;
  }

  // gev's virtual read: read ahead without consuming, then commit or revert.
  size_t virtual_read(void* dst, size_t n);
  size_t virtual_size() const { return static_cast<size_t>(tail_ - vhead_); }
  void virtual_commit() { head_ = vhead_; }
  void virtual_revert() { vhead_ = head_; }

 private:
  bool grow_to_fit(size_t extra);
  void reallocate(size_t new_capacity);
  size_t index(uint64_t pos) const { return static_cast<size_t>(pos) & mask_; }

  std::unique_ptr<uint8_t[]> data_;
  size_t mask_ = 0;  // capacity - 1 when allocated
  size_t initial_capacity_;
  size_t max_capacity_;  // 0: unbounded
  uint64_t head_ = 0;
  uint64_t tail_ = 0;
  uint64_t vhead_ = 0;  // == head_ outside a virtual read
};

}  // namespace gev
