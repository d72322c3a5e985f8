// fuzz_utf8: the WebSocket module's incremental UTF-8 validator (modules/websocket/
// utf8.h) against utf8_reference.h, written from the definition rather than the table.
// Checked: the verdict, failing at exactly that byte when fed byte by byte (RFC 6455's
// "fail fast"), and the same verdict whatever point the input is split at.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "utf8.h"
#include "utf8_reference.h"

namespace {

using Verdict = gev::fuzz::Utf8Verdict;

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
  const Verdict ref = gev::fuzz::utf8_reference(p, n);
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
