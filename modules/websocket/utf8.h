// Incremental UTF-8 validation (RFC 3629, Unicode table 3-7): fed a message piece by
// piece, it fails at the first byte that cannot be part of valid UTF-8, so a bad text
// message is refused before the rest of it arrives (RFC 6455 8.1, "fail fast").
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace gev::ws {

class Utf8Validator {
 public:
  // false at the first invalid byte (the validator then stays failed until reset).
  bool feed(const uint8_t* p, size_t n) {
    if (failed_) return false;
    size_t i = 0;
    while (i < n) {
      if (need_ == 0) {
        // ASCII runs, eight bytes at a time.
        while (i + 8 <= n) {
          uint64_t w;
          std::memcpy(&w, p + i, 8);
          if (w & 0x8080808080808080ull) break;
          i += 8;
        }
        if (i >= n) break;
        uint8_t b = p[i++];
        if (b < 0x80) continue;
        if (!lead(b)) return fail();
      } else {
        uint8_t b = p[i++];
        if (b < lo_ || b > hi_) return fail();
        lo_ = 0x80;
        hi_ = 0xBF;
        --need_;
      }
    }
    return true;
  }
  // True when no multi-byte sequence is left open (the message may end here).
  bool complete() const { return !failed_ && need_ == 0; }
  void reset() {
    need_ = 0;
    failed_ = false;
    lo_ = 0x80;
    hi_ = 0xBF;
  }

 private:
  // Sets how many continuation bytes follow and the range of the first one, which
  // excludes overlongs (E0, F0), surrogates (ED) and code points past U+10FFFF (F4).
  bool lead(uint8_t b) {
    lo_ = 0x80;
    hi_ = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      need_ = 1;
    } else if (b == 0xE0) {
      need_ = 2;
      lo_ = 0xA0;
    } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
      need_ = 2;
    } else if (b == 0xED) {
      need_ = 2;
      hi_ = 0x9F;
    } else if (b == 0xF0) {
      need_ = 3;
      lo_ = 0x90;
    } else if (b >= 0xF1 && b <= 0xF3) {
      need_ = 3;
    } else if (b == 0xF4) {
      need_ = 3;
      hi_ = 0x8F;
    } else {
      return false;  // 80-C1 (continuation or overlong lead), F5-FF
    }
    return true;
  }
  bool fail() {
    failed_ = true;
    return false;
  }

  uint8_t need_ = 0;
  uint8_t lo_ = 0x80;
  uint8_t hi_ = 0xBF;
  bool failed_ = false;
};

inline bool valid_utf8(const uint8_t* p, size_t n) {
  Utf8Validator v;
  return v.feed(p, n) && v.complete();
}

}  // namespace gev::ws
