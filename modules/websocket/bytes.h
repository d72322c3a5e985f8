// Bytes: a growable byte buffer that, unlike std::string or std::vector, does not zero
// the space it grows into (payloads are written over it at once).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

namespace gev::ws {

class Bytes {
 public:
  uint8_t* data() { return buf_.get(); }
  const uint8_t* data() const { return buf_.get(); }
  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }
  void clear() { size_ = 0; }
  // Makes room for n more bytes and returns where they go (size grows by n).
  uint8_t* grow(size_t n) {
    if (size_ + n > cap_) reserve(size_ + n);
    uint8_t* p = buf_.get() + size_;
    size_ += n;
    return p;
  }
  void shrink_to(size_t n) { size_ = n < size_ ? n : size_; }
  void reserve(size_t want) {
    if (want <= cap_) return;
    size_t cap = cap_ ? cap_ : 256;
    while (cap < want) cap *= 2;
    std::unique_ptr<uint8_t[]> next(new uint8_t[cap]);
    if (size_) std::memcpy(next.get(), buf_.get(), size_);
    buf_ = std::move(next);
    cap_ = cap;
  }
  // Gives memory back after a large message.
  void release() {
    buf_.reset();
    size_ = cap_ = 0;
  }

 private:
  std::unique_ptr<uint8_t[]> buf_;
  size_t size_ = 0;
  size_t cap_ = 0;
};

}  // namespace gev::ws
