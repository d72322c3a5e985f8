// WriteBatch: the replies produced while handling one read event, gathered so they leave
// in one write (writev where pieces are not contiguous).
//
// A protocol's encode() appends to it. Bytes inside the batch's stable range (the input
// being decoded, which the loop keeps intact until the flush) are referenced, not
// copied; anything else is copied into the batch's scratch arena. Loop thread only.
// A short stable piece right after copied bytes (a frame header, then its payload) is
// copied too: one contiguous send costs the kernel less than a two-piece sendmsg.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace gev {

class WriteBatch {
 public:
  // Past this many pieces, further bytes are copied so one writev can take them all.
  static constexpr size_t kMaxPieces = 512;
  // Stable bytes up to this size that follow copied ones are copied after them.
  static constexpr size_t kCopyAfterScratch = 2048;

  void reset(std::span<const uint8_t> stable = {});
  // References or copies `bytes` (see above).
  void append(std::span<const uint8_t> bytes);
  void append(const void* p, size_t n) { append({static_cast<const uint8_t*>(p), n}); }
  // Always copies.
  void append_copy(std::span<const uint8_t> bytes);
  // n writable bytes at the end of the batch (for headers); fill them before the next call.
  uint8_t* alloc(size_t n);

  bool empty() const { return bytes_ == 0; }
  size_t bytes() const { return bytes_; }
  // Fills iov (at least kMaxPieces + 1 entries) and returns the count.
  int to_iovec(iovec* iov) const;

 private:
  struct Piece {
    const uint8_t* ptr;  // nullptr: lives in the scratch arena at `offset`
    size_t offset;
    size_t len;
  };
  void reserve_scratch(size_t n);

  std::span<const uint8_t> stable_;
  std::vector<Piece> pieces_;
  std::unique_ptr<uint8_t[]> scratch_;
  size_t scratch_cap_ = 0;
  size_t scratch_used_ = 0;
  size_t bytes_ = 0;
};

}  // namespace gev
