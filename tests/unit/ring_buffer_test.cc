// RingBuffer: deterministic edge cases, then long random operation sequences checked
// step by step against a std::deque model.
#include <doctest/doctest.h>
#include <gev/ring_buffer.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <deque>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

using gev::RingBuffer;

namespace {

std::vector<uint8_t> bytes_of(const std::string& s) {
  return {s.begin(), s.end()};
}

std::vector<uint8_t> iota_bytes(size_t n, uint8_t start = 0) {
  std::vector<uint8_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

std::vector<uint8_t> concat(const RingBuffer::Spans& s) {
  std::vector<uint8_t> v(s.first.begin(), s.first.end());
  v.insert(v.end(), s.second.begin(), s.second.end());
  return v;
}

std::vector<uint8_t> contents(const RingBuffer& rb) {
  return concat(rb.peek_all());
}

std::string text_of(const RingBuffer& rb) {
  std::vector<uint8_t> v = contents(rb);
  return {v.begin(), v.end()};
}

bool is_pow2_or_zero(size_t n) {
  return n == 0 || std::has_single_bit(n);
}

}  // namespace

TEST_CASE("RingBuffer allocates lazily and gives all memory back when drained") {
  RingBuffer rb(0, 64);
  CHECK(rb.capacity() == 0);
  CHECK(rb.empty());
  CHECK(rb.size() == 0);
  CHECK(rb.peek_all().size() == 0);
  CHECK(rb.linearize().empty());
  CHECK(rb.write(nullptr, 0));
  CHECK(rb.capacity() == 0);  // an empty write allocates nothing
  uint8_t out[4] = {};
  CHECK(rb.read(out, sizeof out) == 0);
  rb.shrink();
  CHECK(rb.capacity() == 0);

  CHECK(rb.write(bytes_of("abc")));
  CHECK(rb.capacity() == 64);  // the initial capacity
  CHECK(text_of(rb) == "abc");

  rb.shrink();  // not empty, not above the initial capacity: kept
  CHECK(rb.capacity() == 64);
  CHECK(text_of(rb) == "abc");

  CHECK(rb.read(out, sizeof out) == 3);
  CHECK(rb.empty());
  CHECK(rb.capacity() == 64);  // consuming never frees
  rb.shrink();
  CHECK(rb.capacity() == 0);

  CHECK(rb.write(bytes_of("xyz")));  // usable again after the release
  CHECK(rb.capacity() == 64);
  CHECK(text_of(rb) == "xyz");
}

TEST_CASE("RingBuffer rounds capacities up to powers of two") {
  CHECK(RingBuffer(1000).max_capacity() == 1024);
  CHECK(RingBuffer(64).max_capacity() == 64);
  CHECK(RingBuffer(0).max_capacity() == 0);

  RingBuffer rb(0, 100);  // initial 100 -> 128
  CHECK(rb.write(bytes_of("a")));
  CHECK(rb.capacity() == 128);

  RingBuffer capped(64);  // the default initial capacity is clipped to the cap
  CHECK(capped.write(bytes_of("a")));
  CHECK(capped.capacity() == 64);
}

TEST_CASE("RingBuffer grows by doubling") {
  RingBuffer rb(0, 16);
  CHECK(rb.write(iota_bytes(16)));
  CHECK(rb.capacity() == 16);
  CHECK(rb.write(iota_bytes(1, 16)));
  CHECK(rb.capacity() == 32);
  CHECK(rb.write(iota_bytes(15, 17)));
  CHECK(rb.capacity() == 32);
  CHECK(rb.write(iota_bytes(100, 32)));  // 132 bytes: 32 -> 64 -> 128 -> 256
  CHECK(rb.capacity() == 256);
  CHECK(contents(rb) == iota_bytes(132));

  RingBuffer big(0, 16);
  CHECK(big.write(iota_bytes(1000)));  // the first allocation is sized to fit too
  CHECK(big.capacity() == 1024);
  CHECK(contents(big) == iota_bytes(1000));
}

TEST_CASE("RingBuffer refuses to pass its cap and keeps its contents") {
  RingBuffer rb(64, 16);
  CHECK(rb.write(iota_bytes(60)));
  CHECK(rb.capacity() == 64);
  CHECK_FALSE(rb.write(iota_bytes(5, 60)));
  CHECK(rb.size() == 60);
  CHECK(contents(rb) == iota_bytes(60));
  CHECK(rb.reserve(5) == nullptr);
  CHECK(contents(rb) == iota_bytes(60));
  CHECK(rb.write(iota_bytes(4, 60)));
  CHECK(rb.size() == 64);
  CHECK_FALSE(rb.write(iota_bytes(1)));
  CHECK(rb.reserve(1) == nullptr);
  CHECK(contents(rb) == iota_bytes(64));

  // The cap is on the capacity, so the rounded-up value is usable.
  RingBuffer r1000(1000, 8);
  CHECK(r1000.write(iota_bytes(1024)));
  CHECK(r1000.capacity() == 1024);
  CHECK_FALSE(r1000.write(iota_bytes(1)));
  CHECK(contents(r1000) == iota_bytes(1024));

  // A refused first write allocates nothing.
  RingBuffer small(64);
  CHECK_FALSE(small.write(iota_bytes(65)));
  CHECK(small.empty());
  CHECK(small.capacity() == 0);
}

TEST_CASE("RingBuffer shrink halves while three quarters are unused") {
  RingBuffer rb(0, 16);
  CHECK(rb.write(iota_bytes(200)));
  CHECK(rb.capacity() == 256);
  rb.consume(135);  // 65 left: more than a quarter of 256
  rb.shrink();
  CHECK(rb.capacity() == 256);
  rb.consume(1);  // 64 left: exactly a quarter
  rb.shrink();
  CHECK(rb.capacity() == 128);
  CHECK(contents(rb) == iota_bytes(64, 136));
  rb.consume(54);  // 10 left
  rb.shrink();
  CHECK(rb.capacity() == 64);
  rb.shrink();
  CHECK(rb.capacity() == 32);
  rb.shrink();  // 10 > 32 / 4
  CHECK(rb.capacity() == 32);
  CHECK(contents(rb) == iota_bytes(10, 190));

  // Never below the initial capacity while not empty.
  RingBuffer r2(0, 64);
  CHECK(r2.write(iota_bytes(3)));
  r2.shrink();
  CHECK(r2.capacity() == 64);
}

TEST_CASE("RingBuffer shrink keeps wrapped contents") {
  RingBuffer rb(0, 16);
  CHECK(rb.write(iota_bytes(100)));  // capacity 128
  rb.consume(90);
  CHECK(rb.write(iota_bytes(30, 100)));  // 40 bytes, wrapping
  REQUIRE(rb.capacity() == 128);
  REQUIRE_FALSE(rb.peek_all().second.empty());
  rb.consume(20);  // 20 bytes left, still wrapped
  rb.shrink();
  CHECK(rb.capacity() == 64);
  CHECK(contents(rb) == iota_bytes(20, 110));
}

TEST_CASE("RingBuffer wrap-around gives two spans, linearize gives one") {
  RingBuffer rb(0, 16);
  CHECK(rb.write(iota_bytes(12)));
  rb.consume(8);
  CHECK(rb.write(iota_bytes(10, 12)));  // positions 8..22 in a 16-byte ring
  CHECK(rb.capacity() == 16);
  RingBuffer::Spans s = rb.peek_all();
  CHECK(s.first.size() == 8);
  CHECK(s.second.size() == 6);
  CHECK(s.size() == 14);
  CHECK(concat(s) == iota_bytes(14, 8));

  // A partial peek that stops before the wrap is one span.
  RingBuffer::Spans p = rb.peek(5);
  CHECK(p.first.size() == 5);
  CHECK(p.second.empty());
  CHECK(concat(p) == iota_bytes(5, 8));
  // One that crosses it is two.
  CHECK(concat(rb.peek(10)) == iota_bytes(10, 8));
  CHECK(rb.peek(10).second.size() == 2);
  CHECK(rb.peek(1000).size() == 14);

  // copy_out across the wrap and from an offset.
  std::vector<uint8_t> out(20, 0xEE);
  CHECK(rb.copy_out(6, out.data(), 5) == 5);
  CHECK(std::vector<uint8_t>(out.begin(), out.begin() + 5) == iota_bytes(5, 14));
  CHECK(out[5] == 0xEE);
  CHECK(rb.copy_out(10, out.data(), 100) == 4);
  CHECK(rb.copy_out(14, out.data(), 1) == 0);
  CHECK(rb.copy_out(1000, out.data(), 1) == 0);

  std::span<const uint8_t> lin = rb.linearize();
  CHECK(lin.size() == 14);
  CHECK(std::vector<uint8_t>(lin.begin(), lin.end()) == iota_bytes(14, 8));
  CHECK(rb.capacity() == 16);
  CHECK(rb.peek_all().second.empty());
  CHECK(rb.peek_all().first.data() == lin.data());
  CHECK(contents(rb) == iota_bytes(14, 8));
}

TEST_CASE("RingBuffer linearize without a wrap does not move the data") {
  RingBuffer rb(0, 16);
  CHECK(rb.write(iota_bytes(10)));
  rb.consume(3);
  const uint8_t* before = rb.peek_all().first.data();
  std::span<const uint8_t> lin = rb.linearize();
  CHECK(lin.data() == before);
  CHECK(std::vector<uint8_t>(lin.begin(), lin.end()) == iota_bytes(7, 3));
}

TEST_CASE("RingBuffer reserve/commit gives contiguous space even when the free space wraps") {
  RingBuffer rb(0, 16);
  CHECK(rb.write(iota_bytes(12)));
  rb.consume(8);  // 4 bytes at positions 8..11; free space 12..15 + 0..7
  uint8_t* p = rb.reserve(6);
  REQUIRE(p != nullptr);
  CHECK(rb.capacity() == 16);  // compacted rather than grown
  for (int i = 0; i < 6; ++i) p[i] = static_cast<uint8_t>(12 + i);
  rb.commit(6);
  CHECK(rb.size() == 10);
  CHECK(contents(rb) == iota_bytes(10, 8));
  CHECK(rb.peek_all().second.empty());

  // Partial commit: only the committed bytes appear.
  p = rb.reserve(6);
  REQUIRE(p != nullptr);
  p[0] = 18;
  p[1] = 19;
  rb.commit(2);
  CHECK(contents(rb) == iota_bytes(12, 8));

  // Reserving more than the free space grows.
  p = rb.reserve(100);
  REQUIRE(p != nullptr);
  CHECK(rb.capacity() == 128);
  for (int i = 0; i < 100; ++i) p[i] = static_cast<uint8_t>(20 + i);
  rb.commit(100);
  CHECK(contents(rb) == iota_bytes(112, 8));

  // The first reserve of an unallocated buffer allocates.
  RingBuffer fresh(0, 32);
  p = fresh.reserve(4);
  REQUIRE(p != nullptr);
  CHECK(fresh.capacity() == 32);
  std::memcpy(p, "wxyz", 4);
  fresh.commit(4);
  CHECK(text_of(fresh) == "wxyz");
}

TEST_CASE("RingBuffer peek_be reads big-endian integers without consuming") {
  RingBuffer rb(0, 8);
  CHECK(rb.write(std::vector<uint8_t>{0x01, 0x02, 0x03, 0x04, 0x05}));
  uint16_t u16 = 0;
  CHECK(rb.peek_be(0, &u16));
  CHECK(u16 == 0x0102);
  uint32_t u32 = 0;
  CHECK(rb.peek_be(1, &u32));
  CHECK(u32 == 0x02030405u);
  uint32_t untouched = 0xDEADBEEF;
  CHECK_FALSE(rb.peek_be(2, &untouched));  // only 3 bytes from offset 2
  CHECK(untouched == 0xDEADBEEF);
  uint8_t u8 = 0;
  CHECK(rb.peek_be(4, &u8));
  CHECK(u8 == 0x05);
  CHECK_FALSE(rb.peek_be(5, &u8));
  CHECK(rb.size() == 5);

  // Across a wrap, with the high bit set.
  RingBuffer w(0, 8);
  CHECK(w.write(iota_bytes(6)));
  w.consume(6);
  CHECK(w.write(std::vector<uint8_t>{0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0xFA, 0xF9, 0xF8}));
  CHECK(w.capacity() == 8);
  uint64_t u64 = 0;
  CHECK(w.peek_be(0, &u64));
  CHECK(u64 == 0xFFFEFDFCFBFAF9F8ull);
}

TEST_CASE("RingBuffer virtual read: read ahead, then commit or revert") {
  RingBuffer rb(0, 16);
  CHECK(rb.write(bytes_of("hello world")));
  char buf[32] = {};
  CHECK(rb.virtual_size() == 11);

  CHECK(rb.virtual_read(buf, 5) == 5);
  CHECK(std::string(buf, 5) == "hello");
  CHECK(rb.size() == 11);  // nothing consumed
  CHECK(rb.virtual_size() == 6);
  CHECK(text_of(rb) == "hello world");

  CHECK(rb.virtual_read(buf, 100) == 6);
  CHECK(std::string(buf, 6) == " world");
  CHECK(rb.virtual_size() == 0);
  CHECK(rb.virtual_read(buf, 1) == 0);

  SUBCASE("revert") {
    rb.virtual_revert();
    CHECK(rb.virtual_size() == 11);
    CHECK(rb.virtual_read(buf, 5) == 5);
    CHECK(std::string(buf, 5) == "hello");
    CHECK(text_of(rb) == "hello world");
  }
  SUBCASE("commit part") {
    rb.virtual_revert();
    CHECK(rb.virtual_read(buf, 6) == 6);
    rb.virtual_commit();
    CHECK(rb.size() == 5);
    CHECK(text_of(rb) == "world");
    CHECK(rb.virtual_size() == 5);
  }
  SUBCASE("commit all") {
    rb.virtual_commit();
    CHECK(rb.empty());
    CHECK(rb.virtual_size() == 0);
    CHECK(rb.write(bytes_of("again")));
    CHECK(text_of(rb) == "again");
    CHECK(rb.virtual_size() == 5);
  }
  SUBCASE("writes during a virtual read, with growth, keep the read position") {
    rb.virtual_revert();
    CHECK(rb.virtual_read(buf, 6) == 6);
    std::string more(100, 'x');
    CHECK(rb.write(bytes_of(more)));
    CHECK(rb.capacity() == 128);
    CHECK(rb.virtual_size() == 105);
    CHECK(rb.virtual_read(buf, 7) == 7);
    CHECK(std::string(buf, 7) == "worldxx");
    rb.virtual_revert();
    CHECK(rb.virtual_read(buf, 5) == 5);
    CHECK(std::string(buf, 5) == "hello");
  }
  SUBCASE("consume past the virtual position drags it along") {
    rb.virtual_revert();
    CHECK(rb.virtual_read(buf, 3) == 3);
    rb.consume(6);
    CHECK(rb.virtual_size() == 5);
    CHECK(rb.virtual_read(buf, 5) == 5);
    CHECK(std::string(buf, 5) == "world");
  }
  SUBCASE("consume short of the virtual position keeps it") {
    rb.virtual_revert();
    CHECK(rb.virtual_read(buf, 6) == 6);
    rb.consume(2);
    CHECK(rb.virtual_size() == 5);
    rb.virtual_revert();
    CHECK(rb.virtual_size() == 9);
    CHECK(rb.virtual_read(buf, 4) == 4);
    CHECK(std::string(buf, 4) == "llo ");
  }
}

TEST_CASE("RingBuffer clear keeps the memory, shrink then frees it") {
  RingBuffer rb(0, 16);
  CHECK(rb.write(iota_bytes(40)));
  rb.clear();
  CHECK(rb.empty());
  CHECK(rb.virtual_size() == 0);
  CHECK(rb.capacity() == 64);
  CHECK(rb.write(iota_bytes(3)));
  CHECK(contents(rb) == iota_bytes(3));
  rb.clear();
  rb.shrink();
  CHECK(rb.capacity() == 0);
}

TEST_CASE("RingBuffer move leaves the source empty and reusable") {
  RingBuffer src(0, 16);
  CHECK(src.write(iota_bytes(40)));
  src.consume(5);
  RingBuffer dst(std::move(src));
  CHECK(dst.size() == 35);
  CHECK(dst.capacity() == 64);
  CHECK(contents(dst) == iota_bytes(35, 5));

  // NOLINTBEGIN(bugprone-use-after-move): reusing a moved-from buffer is the point.
  CHECK(src.size() == 0);
  CHECK(src.empty());
  CHECK(src.capacity() == 0);
  // Only exercise it if the state is coherent: an incoherent one would crash the run.
  if (src.size() == 0 && src.capacity() == 0) {
    CHECK(src.write(iota_bytes(3)));
    CHECK(contents(src) == iota_bytes(3));
  }

  RingBuffer assigned(0, 16);
  CHECK(assigned.write(iota_bytes(2)));
  assigned = std::move(dst);
  CHECK(contents(assigned) == iota_bytes(35, 5));
  CHECK(dst.size() == 0);
  CHECK(dst.capacity() == 0);
  if (dst.size() == 0 && dst.capacity() == 0) {
    CHECK(dst.write(iota_bytes(3)));
    CHECK(contents(dst) == iota_bytes(3));
  }
  // NOLINTEND(bugprone-use-after-move)
}

// ---------------------------------------------------------------------------------------
// Random operation sequences against a model.

namespace {

struct Rng {
  std::mt19937_64 gen;
  explicit Rng(uint64_t seed) : gen(seed) {}
  // Uniform in [lo, hi].
  uint64_t between(uint64_t lo, uint64_t hi) { return lo + gen() % (hi - lo + 1); }
  bool chance(unsigned percent) { return gen() % 100 < percent; }
};

struct ModelRun {
  size_t cap;      // as given to the constructor; 0: unbounded
  size_t initial;  // as given to the constructor
  int steps;
  uint64_t seed;
};

void run_model(const ModelRun& cfg) {
  CAPTURE(cfg.cap);
  CAPTURE(cfg.initial);
  CAPTURE(cfg.seed);
  Rng rng(cfg.seed);
  RingBuffer rb(cfg.cap, cfg.initial);
  const size_t eff_cap = cfg.cap == 0 ? 0 : std::bit_ceil(cfg.cap);
  const size_t eff_initial = std::min(std::bit_ceil(cfg.initial), eff_cap ? eff_cap : SIZE_MAX);
  // Typical sizes are a fraction of the cap so the buffer both fills and drains.
  const size_t unit = eff_cap ? std::max<size_t>(eff_cap / 4, 4) : 300;
  std::deque<uint8_t> model;
  size_t vofs = 0;  // virtual read position relative to the front
  uint8_t next_byte = 0;
  int wraps_seen = 0, refusals = 0, grows = 0, shrinks = 0, frees = 0;

  auto fresh = [&](size_t n) {
    std::vector<uint8_t> v(n);
    for (auto& b : v) b = next_byte++;
    return v;
  };
  auto expect_growth = [&](size_t old_cap, size_t need) {
    // Doubling from max(old, initial) until the data fits.
    if (need <= old_cap) return old_cap;
    return std::max({old_cap, eff_initial, std::bit_ceil(need)});
  };
  auto drop_front = [&](size_t n) {
    model.erase(model.begin(), model.begin() + static_cast<std::ptrdiff_t>(n));
    vofs = vofs > n ? vofs - n : 0;
  };
  auto size_arg = [&]() -> size_t {
    switch (rng.between(0, 9)) {
      case 0:
        return 0;
      case 1:
        return rng.between(1, 3);
      case 2:
        return rng.between(unit, 3 * unit);
      default:
        return rng.between(1, unit);
    }
  };
  // Reads drain more aggressively so an unbounded buffer stays a manageable size.
  auto take_arg = [&]() -> size_t {
    return rng.chance(25) ? rng.between(0, model.size() + 2) : size_arg();
  };

  for (int step = 0; step < cfg.steps; ++step) {
    CAPTURE(step);
    const size_t cap_before = rb.capacity();
    const int op = static_cast<int>(rng.between(0, 15));
    CAPTURE(op);
    switch (op) {
      case 0:
      case 1:
      case 2: {  // write
        size_t n = size_arg();
        std::vector<uint8_t> data = fresh(n);
        bool fits = eff_cap == 0 || model.size() + n <= eff_cap;
        bool ok = rb.write(data);
        CHECK(ok == fits);
        if (ok) {
          model.insert(model.end(), data.begin(), data.end());
          CHECK(rb.capacity() == (n == 0 ? cap_before : expect_growth(cap_before, model.size())));
          if (rb.capacity() > cap_before) ++grows;
        } else {
          ++refusals;
          CHECK(rb.capacity() == cap_before);
        }
        break;
      }
      case 3: {  // read
        size_t n = take_arg();
        std::vector<uint8_t> out(n + 1, 0xA5);
        size_t got = rb.read(out.data(), n);
        size_t want = std::min(n, model.size());
        REQUIRE(got == want);
        CHECK(
            std::equal(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(got), model.begin()));
        CHECK(out[got] == 0xA5);  // nothing written past the count
        drop_front(got);
        CHECK(rb.capacity() == cap_before);
        break;
      }
      case 4: {  // consume
        size_t n = take_arg();
        rb.consume(n);
        drop_front(std::min(n, model.size()));
        CHECK(rb.capacity() == cap_before);
        break;
      }
      case 5: {  // peek
        size_t n = size_arg();
        RingBuffer::Spans s = rb.peek(n);
        size_t want = std::min(n, model.size());
        REQUIRE(s.size() == want);
        CHECK(std::equal(s.first.begin(), s.first.end(), model.begin()));
        CHECK(std::equal(s.second.begin(), s.second.end(),
                         model.begin() + static_cast<std::ptrdiff_t>(s.first.size())));
        if (s.first.empty()) CHECK(s.second.empty());
        break;
      }
      case 6: {  // copy_out at an offset
        size_t offset = rng.between(0, model.size() + 2);
        size_t n = size_arg();
        std::vector<uint8_t> out(n + 1, 0x5A);
        size_t got = rb.copy_out(offset, out.data(), n);
        size_t want = offset >= model.size() ? 0 : std::min(n, model.size() - offset);
        REQUIRE(got == want);
        CHECK(std::equal(
            out.begin(), out.begin() + static_cast<std::ptrdiff_t>(got),
            model.begin() + static_cast<std::ptrdiff_t>(std::min(offset, model.size()))));
        CHECK(out[got] == 0x5A);
        break;
      }
      case 7: {  // linearize
        bool wrapped = !rb.peek_all().second.empty();
        std::span<const uint8_t> lin = rb.linearize();
        REQUIRE(lin.size() == model.size());
        CHECK(std::equal(lin.begin(), lin.end(), model.begin()));
        CHECK(rb.peek_all().second.empty());
        if (!model.empty()) CHECK(rb.peek_all().first.data() == lin.data());
        CHECK(rb.capacity() == cap_before);
        if (wrapped) ++wraps_seen;
        break;
      }
      case 8:
      case 9: {  // reserve + commit
        size_t n = size_arg();
        bool fits = eff_cap == 0 || model.size() + n <= eff_cap;
        uint8_t* p = rb.reserve(n);
        if (n == 0) break;  // nothing to fill; a null or non-null answer are both fine
        CHECK((p != nullptr) == fits);
        if (p) {
          CHECK(rb.capacity() == expect_growth(cap_before, model.size() + n));
          size_t m = rng.chance(70) ? n : rng.between(0, n);
          std::vector<uint8_t> data = fresh(n);
          std::memcpy(p, data.data(), n);  // the whole reservation must be writable
          rb.commit(m);
          model.insert(model.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(m));
        } else {
          ++refusals;
          CHECK(rb.capacity() == cap_before);
        }
        break;
      }
      case 10: {  // shrink
        rb.shrink();
        size_t want = cap_before;
        if (model.empty()) {
          want = 0;
          vofs = 0;
        } else if (cap_before > eff_initial && model.size() <= cap_before / 4) {
          want = cap_before / 2;
        }
        CHECK(rb.capacity() == want);
        if (want == 0 && cap_before != 0) ++frees;
        if (want != 0 && want < cap_before) ++shrinks;
        break;
      }
      case 11: {  // peek_be
        size_t offset = rng.between(0, model.size() + 1);
        uint32_t v = 0x12345678;
        bool ok = rb.peek_be(offset, &v);
        CHECK(ok == (offset + 4 <= model.size()));
        if (ok) {
          uint32_t want = 0;
          for (size_t i = 0; i < 4; ++i) want = (want << 8) | model[offset + i];
          CHECK(v == want);
        } else {
          CHECK(v == 0x12345678);
        }
        break;
      }
      case 12:
      case 13: {  // virtual read
        size_t n = take_arg();
        std::vector<uint8_t> out(n + 1, 0x3C);
        size_t got = rb.virtual_read(out.data(), n);
        size_t want = std::min(n, model.size() - vofs);
        REQUIRE(got == want);
        CHECK(std::equal(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(got),
                         model.begin() + static_cast<std::ptrdiff_t>(vofs)));
        CHECK(out[got] == 0x3C);
        vofs += got;
        break;
      }
      case 14: {  // virtual commit
        rb.virtual_commit();
        drop_front(vofs);
        break;
      }
      case 15: {  // virtual revert, or rarely clear
        if (rng.chance(5)) {
          rb.clear();
          model.clear();
        } else {
          rb.virtual_revert();
        }
        vofs = 0;
        CHECK(rb.capacity() == cap_before);
        break;
      }
    }

    // Invariants after every step.
    REQUIRE(rb.size() == model.size());
    CHECK(rb.empty() == model.empty());
    CHECK(rb.virtual_size() == model.size() - vofs);
    size_t cap = rb.capacity();
    CHECK(is_pow2_or_zero(cap));
    CHECK(cap >= rb.size());
    if (eff_cap) CHECK(cap <= eff_cap);
    RingBuffer::Spans all = rb.peek_all();
    if (!all.second.empty()) ++wraps_seen;
    REQUIRE(all.size() == model.size());
    CHECK(std::equal(all.first.begin(), all.first.end(), model.begin()));
    CHECK(std::equal(all.second.begin(), all.second.end(),
                     model.begin() + static_cast<std::ptrdiff_t>(all.first.size())));
  }

  // The run must actually have exercised the interesting paths.
  if (eff_cap == 0 || eff_cap > 1) CHECK(wraps_seen > 0);  // a 1-byte ring cannot wrap
  CHECK(grows + frees > 0);
  if (eff_cap) CHECK(refusals > 0);
  if (eff_cap == 0 || eff_cap > eff_initial) CHECK(shrinks > 0);
}

}  // namespace

TEST_CASE("RingBuffer matches a deque model under random operations") {
  const ModelRun runs[] = {
      {0, 1024, 6000, 1},   // unbounded, default initial
      {0, 16, 6000, 2},     // unbounded, small initial: lots of growth and shrink
      {64, 16, 6000, 3},    // small cap
      {64, 1024, 4000, 4},  // initial clipped to the cap
      {1000, 8, 6000, 5},   // cap rounded up to 1024
      {1000, 1000, 4000, 6}, {1, 1, 3000, 7},  // degenerate one-byte ring
  };
  for (const ModelRun& r : runs) run_model(r);
}
