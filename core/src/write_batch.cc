// WriteBatch implementation: pieces coalesce when contiguous, so a pipelined echo of
// many frames from one read is still one iovec.
#include "gev/write_batch.h"

#include <cstring>

namespace gev {

void WriteBatch::reset(std::span<const uint8_t> stable) {
  stable_ = stable;
  pieces_.clear();
  scratch_used_ = 0;
  bytes_ = 0;
}

void WriteBatch::reserve_scratch(size_t n) {
  if (scratch_used_ + n <= scratch_cap_) return;
  size_t cap = scratch_cap_ ? scratch_cap_ : 4096;
  while (cap < scratch_used_ + n) cap *= 2;
  auto fresh = std::make_unique_for_overwrite<uint8_t[]>(cap);
  if (scratch_used_) std::memcpy(fresh.get(), scratch_.get(), scratch_used_);
  scratch_ = std::move(fresh);
  scratch_cap_ = cap;
}

uint8_t* WriteBatch::alloc(size_t n) {
  reserve_scratch(n == 0 ? 1 : n);
  if (n == 0) return scratch_.get() + scratch_used_;  // nothing to send: no piece
  uint8_t* p = scratch_.get() + scratch_used_;
  if (!pieces_.empty() && pieces_.back().ptr == nullptr &&
      pieces_.back().offset + pieces_.back().len == scratch_used_) {
    pieces_.back().len += n;
  } else {
    pieces_.push_back({nullptr, scratch_used_, n});
  }
  scratch_used_ += n;
  bytes_ += n;
  return p;
}

void WriteBatch::append_copy(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  std::memcpy(alloc(bytes.size()), bytes.data(), bytes.size());
}

void WriteBatch::append(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  bool stable = !stable_.empty() && bytes.data() >= stable_.data() &&
                bytes.data() + bytes.size() <= stable_.data() + stable_.size();
  bool after_scratch = !pieces_.empty() && pieces_.back().ptr == nullptr;
  if (!stable || pieces_.size() >= kMaxPieces ||
      (after_scratch && bytes.size() <= kCopyAfterScratch)) {
    append_copy(bytes);
    return;
  }
  if (!pieces_.empty() && pieces_.back().ptr != nullptr &&
      pieces_.back().ptr + pieces_.back().len == bytes.data()) {
    pieces_.back().len += bytes.size();
  } else {
    pieces_.push_back({bytes.data(), 0, bytes.size()});
  }
  bytes_ += bytes.size();
}

int WriteBatch::to_iovec(iovec* iov) const {
  int n = 0;
  for (const Piece& p : pieces_) {
    const uint8_t* base = p.ptr ? p.ptr : scratch_.get() + p.offset;
    iov[n++] = {const_cast<uint8_t*>(base), p.len};
  }
  return n;
}

}  // namespace gev
