// A UTF-8 reference written from the definition (RFC 3629: shortest form, no
// surrogates, nothing past U+10FFFF) rather than from the byte table the module uses:
// a byte is bad when the bytes so far can no longer be completed into valid UTF-8.
#ifndef GEV_FUZZ_UTF8_REFERENCE_H
#define GEV_FUZZ_UTF8_REFERENCE_H

#include <cstddef>
#include <cstdint>

namespace gev::fuzz {

struct Utf8Verdict {
  size_t first_bad;  // index of the first bad byte; the input's size if none
  bool valid;        // no bad byte and no sequence left open at the end
};

// Whether a sequence of `len` bytes can still encode a valid code point in [lo, hi].
inline bool utf8_possible(uint32_t lo, uint32_t hi, int len) {
  static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  static const uint32_t kMax[] = {0, 0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
  uint32_t a = lo > kMin[len] ? lo : kMin[len];
  uint32_t b = hi < kMax[len] ? hi : kMax[len];
  if (a > b) return false;
  return !(a >= 0xD800 && b <= 0xDFFF);  // nothing but surrogates left
}

inline Utf8Verdict utf8_reference(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t b = p[i];
    if (b < 0x80) {
      ++i;
      continue;
    }
    int len = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0) return {i, false};  // a continuation byte or F8-FF as a lead
    uint32_t cp = b & (0x7Fu >> len);
    for (int m = 1; m <= len; ++m) {  // m: bytes of this sequence seen
      size_t at = i + static_cast<size_t>(m) - 1;
      if (at >= n) return {n, false};  // open at the end: no bad byte, not complete
      if (m > 1) {
        if ((p[at] & 0xC0) != 0x80) return {at, false};
        cp = (cp << 6) | (p[at] & 0x3Fu);
      }
      int rest = 6 * (len - m);
      uint32_t lo = cp << rest;
      uint32_t hi = lo | ((1u << rest) - 1);
      if (!utf8_possible(lo, hi, len)) return {at, false};
    }
    i += static_cast<size_t>(len);
  }
  return {n, true};
}

}  // namespace gev::fuzz

#endif  // GEV_FUZZ_UTF8_REFERENCE_H
