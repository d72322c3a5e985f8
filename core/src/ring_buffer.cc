// RingBuffer implementation: power-of-two storage indexed by free-running counters.
#include "gev/ring_buffer.h"

#include <algorithm>
#include <bit>

namespace gev {

namespace {
size_t round_up_pow2(size_t n) {
  return n <= 1 ? 1 : std::bit_ceil(n);
}
}  // namespace

RingBuffer::RingBuffer(size_t max_capacity, size_t initial_capacity)
    : initial_capacity_(round_up_pow2(initial_capacity)),
      max_capacity_(max_capacity == 0 ? 0 : round_up_pow2(max_capacity)) {
  if (max_capacity_ != 0 && initial_capacity_ > max_capacity_) initial_capacity_ = max_capacity_;
}

RingBuffer::RingBuffer(RingBuffer&& other) noexcept
    : data_(std::move(other.data_)),
      mask_(other.mask_),
      initial_capacity_(other.initial_capacity_),
      max_capacity_(other.max_capacity_),
      head_(other.head_),
      tail_(other.tail_),
      vhead_(other.vhead_) {
  other.mask_ = 0;
  other.head_ = other.tail_ = other.vhead_ = 0;
}

RingBuffer& RingBuffer::operator=(RingBuffer&& other) noexcept {
  if (this != &other) {
    data_ = std::move(other.data_);
    mask_ = other.mask_;
    initial_capacity_ = other.initial_capacity_;
    max_capacity_ = other.max_capacity_;
    head_ = other.head_;
    tail_ = other.tail_;
    vhead_ = other.vhead_;
    other.mask_ = 0;
    other.head_ = other.tail_ = other.vhead_ = 0;
  }
  return *this;
}

void RingBuffer::reallocate(size_t new_capacity) {
  auto fresh = std::make_unique_for_overwrite<uint8_t[]>(new_capacity);
  size_t n = size();
  size_t vofs = static_cast<size_t>(vhead_ - head_);
  copy_out(0, fresh.get(), n);
  data_ = std::move(fresh);
  mask_ = new_capacity - 1;
  head_ = 0;
  tail_ = n;
  vhead_ = vofs;
}

bool RingBuffer::grow_to_fit(size_t extra) {
  size_t need = size() + extra;
  if (need < extra) return false;  // overflow
  size_t cap = capacity();
  if (need <= cap) return true;
  size_t new_cap = std::max(cap, initial_capacity_);
  while (new_cap < need) {
    if (new_cap > (SIZE_MAX >> 1)) return false;
    new_cap <<= 1;
  }
  if (max_capacity_ != 0 && new_cap > max_capacity_) return false;
  reallocate(new_cap);
  return true;
}

bool RingBuffer::write(const void* src, size_t n) {
  if (n == 0) return true;
  if (!grow_to_fit(n)) return false;
  const auto* p = static_cast<const uint8_t*>(src);
  size_t at = index(tail_);
  size_t first = std::min(n, capacity() - at);
  std::memcpy(data_.get() + at, p, first);
  std::memcpy(data_.get(), p + first, n - first);
  tail_ += n;
  return true;
}

RingBuffer::Spans RingBuffer::peek(size_t n) const {
  n = std::min(n, size());
  if (n == 0) return {};
  size_t at = index(head_);
  size_t first = std::min(n, capacity() - at);
  return {{data_.get() + at, first}, {data_.get(), n - first}};
}

size_t RingBuffer::copy_out(size_t offset, void* dst, size_t n) const {
  if (offset >= size()) return 0;
  n = std::min(n, size() - offset);
  if (n == 0) return 0;
  size_t at = index(head_ + offset);
  size_t first = std::min(n, capacity() - at);
  auto* out = static_cast<uint8_t*>(dst);
  std::memcpy(out, data_.get() + at, first);
  std::memcpy(out + first, data_.get(), n - first);
  return n;
}

size_t RingBuffer::read(void* dst, size_t n) {
  n = copy_out(0, dst, n);
  consume(n);
  return n;
}

void RingBuffer::consume(size_t n) {
  n = std::min(n, size());
  head_ += n;
  if (vhead_ < head_) vhead_ = head_;
  if (head_ == tail_) head_ = tail_ = vhead_ = 0;  // restart at offset 0: fewer wraps
}

std::span<const uint8_t> RingBuffer::linearize() {
  if (empty()) return {};
  size_t at = index(head_);
  if (at + size() > capacity()) reallocate(capacity());
  return {data_.get() + index(head_), size()};
}

uint8_t* RingBuffer::reserve(size_t n) {
  if (!grow_to_fit(n == 0 ? 1 : n)) return nullptr;
  size_t at = index(tail_);
  if (at + n > capacity()) {
    // The free space wraps: compact the data to the front so the tail space is whole.
    reallocate(capacity());
    at = index(tail_);
  }
  return data_.get() + at;
}

void RingBuffer::shrink() {
  if (!data_) return;
  if (empty()) {
    data_.reset();
    mask_ = 0;
    head_ = tail_ = vhead_ = 0;
    return;
  }
  size_t cap = capacity();
  if (cap > initial_capacity_ && size() <= cap / 4) reallocate(cap / 2);
}

size_t RingBuffer::virtual_read(void* dst, size_t n) {
  size_t offset = static_cast<size_t>(vhead_ - head_);
  n = copy_out(offset, dst, n);
  vhead_ += n;
  return n;
}

}  // namespace gev
