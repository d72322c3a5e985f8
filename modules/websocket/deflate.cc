#include "deflate.h"

namespace gev::ws {

namespace {
const uint8_t kTail[4] = {0x00, 0x00, 0xFF, 0xFF};
constexpr size_t kChunk = 16 * 1024;
}  // namespace

Inflater::Inflater() {
  // A 15-bit window inflates anything a peer may send, whatever it negotiated.
  ok_ = inflateInit2(&zs_, -15) == Z_OK;
}

Inflater::~Inflater() {
  if (ok_) inflateEnd(&zs_);
}

Inflater::Result Inflater::feed(const uint8_t* in, size_t n, Bytes& out, size_t limit) {
  if (ended_) return n == 0 ? Result::kOk : Result::kError;  // bytes after a final block
  zs_.next_in = const_cast<Bytef*>(in);
  zs_.avail_in = static_cast<uInt>(n);
  for (;;) {
    size_t room = out.size() < limit ? limit - out.size() : 0;
    if (room == 0) {
      // At the limit: one more byte of output is one too many.
      uint8_t probe;
      zs_.next_out = &probe;
      zs_.avail_out = 1;
      int rc = inflate(&zs_, Z_SYNC_FLUSH);
      if (zs_.avail_out == 0) return Result::kTooBig;
      if (rc == Z_STREAM_END) ended_ = true;
      return rc == Z_OK || rc == Z_BUF_ERROR || rc == Z_STREAM_END ? Result::kOk : Result::kError;
    }
    size_t step = room < kChunk ? room : kChunk;
    size_t before = out.size();
    zs_.next_out = out.grow(step);
    zs_.avail_out = static_cast<uInt>(step);
    int rc = inflate(&zs_, Z_SYNC_FLUSH);
    size_t produced = step - zs_.avail_out;
    out.shrink_to(before + produced);
    if (rc == Z_STREAM_END) {
      // The sender ended the stream (BFINAL): the message may not go on after it.
      ended_ = true;
      return zs_.avail_in == 0 ? Result::kOk : Result::kError;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) return Result::kError;
    if (produced < step) return zs_.avail_in == 0 ? Result::kOk : Result::kError;
    // The output piece filled up: zlib may hold more; go round.
  }
}

Inflater::Result Inflater::finish(Bytes& out, size_t limit, bool reset) {
  Result r = Result::kOk;
  if (ended_) {
    reset = true;  // a finished stream cannot take more input: start the next afresh
  } else {
    r = feed(kTail, sizeof kTail, out, limit);
  }
  if (reset && r == Result::kOk) {
    if (inflateReset(&zs_) != Z_OK) return Result::kError;
    ended_ = false;
  }
  return r;
}

Deflater::Deflater(int level, int window_bits) {
  ok_ = deflateInit2(&zs_, level, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

Deflater::~Deflater() {
  if (ok_) deflateEnd(&zs_);
}

bool Deflater::compress(const uint8_t* in, size_t n, std::vector<uint8_t>& out, bool reset) {
  out.resize(deflateBound(&zs_, n) + 16);
  zs_.next_in = const_cast<Bytef*>(in);
  zs_.avail_in = static_cast<uInt>(n);
  size_t used = 0;
  for (;;) {
    zs_.next_out = out.data() + used;
    zs_.avail_out = static_cast<uInt>(out.size() - used);
    int rc = deflate(&zs_, Z_SYNC_FLUSH);
    used = out.size() - zs_.avail_out;
    if (rc != Z_OK && rc != Z_BUF_ERROR) return false;
    if (zs_.avail_in == 0 && zs_.avail_out != 0) break;
    out.resize(out.size() * 2);
  }
  // A sync flush ends in an empty stored block, 00 00 FF FF, which the receiver adds back.
  if (used >= 4 && out[used - 4] == 0 && out[used - 3] == 0 && out[used - 2] == 0xFF &&
      out[used - 1] == 0xFF)
    used -= 4;
  out.resize(used);
  if (reset && deflateReset(&zs_) != Z_OK) return false;
  return true;
}

}  // namespace gev::ws
