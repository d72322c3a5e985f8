// fuzz_utf8: the WebSocket module's incremental UTF-8 validator (modules/websocket/
// utf8.h) against a reference written from the definition rather than from the
// table: a byte is bad when the bytes so far can no longer be completed into valid
// UTF-8 (RFC 3629: the shortest form, no surrogates, nothing past U+10FFFF).
// Checked: the verdict, failing at exactly that byte when fed byte by byte (RFC 6455's
// "fail fast"), and the same verdict whatever point the input is split at.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "utf8.h"

namespace {

struct Verdict {
  size_t first_bad;  // index of the first bad byte; the input's size if none
  bool valid;        // no bad byte and no sequence left open at the end
};

// Whether a sequence of `len` bytes can still encode a valid code point in [lo, hi].
bool possible(uint32_t lo, uint32_t hi, int len) {
  static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  static const uint32_t kMax[] = {0, 0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
  uint32_t a = lo > kMin[len] ? lo : kMin[len];
  uint32_t b = hi < kMax[len] ? hi : kMax[len];
  if (a > b) return false;
  return !(a >= 0xD800 && b <= 0xDFFF);  // nothing but surrogates left
}

Verdict reference(const uint8_t* p, size_t n) {
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
      if (!possible(lo, hi, len)) return {at, false};
    }
    i += static_cast<size_t>(len);
  }
  return {n, true};
}

[[noreturn]] void mismatch(const char* what, size_t at) {
  std::fprintf(stderr, "fuzz_utf8: %s (at %zu)\n", what, at);
  std::abort();
}

// Fed in two pieces split at k.
void check_split(const uint8_t* p, size_t n, size_t k, const Verdict& ref) {
  gev::ws::Utf8Validator v;
  bool first = v.feed(p, k);
  if (first != (ref.first_bad >= k)) mismatch("first piece's verdict", k);
  bool second = v.feed(p + k, n - k);
  if (second != (ref.first_bad == n)) mismatch("second piece's verdict", k);
  if (v.complete() != ref.valid) mismatch("complete() after a split", k);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* p, size_t n) {
  const Verdict ref = reference(p, n);
  if (gev::ws::valid_utf8(p, n) != ref.valid) mismatch("valid_utf8 disagrees", n);

  // Byte by byte: true up to the first bad byte, false from it on.
  gev::ws::Utf8Validator v;
  for (size_t i = 0; i < n; ++i) {
    if (v.feed(p + i, 1) != (i < ref.first_bad)) mismatch("byte-by-byte verdict", i);
  }
  if (v.complete() != ref.valid) mismatch("complete() byte by byte", n);

  // reset() forgets everything, a failure included.
  v.reset();
  if (v.feed(p, n) != (ref.first_bad == n) || v.complete() != ref.valid)
    mismatch("verdict after reset()", n);

  // Every split point of a short input; of a long one, a spread plus the bytes around
  // the first bad one (where an off-by-one would show).
  constexpr size_t kAll = 512;
  if (n <= kAll) {
    for (size_t k = 0; k <= n; ++k) check_split(p, n, k, ref);
  } else {
    for (size_t j = 0; j <= kAll; ++j) check_split(p, n, n * j / kAll, ref);
    for (size_t k = ref.first_bad > 8 ? ref.first_bad - 8 : 0; k <= n && k < ref.first_bad + 9; ++k)
      check_split(p, n, k, ref);
  }
  return 0;
}
