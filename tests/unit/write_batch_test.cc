// WriteBatch: stable bytes referenced, others copied, contiguous pieces coalesced,
// alloc() space in order, and the iovec count bounded past kMaxPieces.
#include <doctest/doctest.h>
#include <gev/write_batch.h>
#include <sys/uio.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using gev::WriteBatch;

namespace {

std::vector<iovec> iovecs(const WriteBatch& b, size_t room = WriteBatch::kMaxPieces + 1) {
  std::vector<iovec> iov(room);
  int n = b.to_iovec(iov.data());
  REQUIRE(n >= 0);
  REQUIRE(static_cast<size_t>(n) <= room);
  iov.resize(static_cast<size_t>(n));
  return iov;
}

std::string joined(const std::vector<iovec>& iov) {
  std::string s;
  for (const iovec& v : iov) s.append(static_cast<const char*>(v.iov_base), v.iov_len);
  return s;
}

std::span<const uint8_t> span_of(const std::string& s, size_t pos, size_t n) {
  return {reinterpret_cast<const uint8_t*>(s.data()) + pos, n};
}

}  // namespace

TEST_CASE("WriteBatch starts empty") {
  WriteBatch b;
  CHECK(b.empty());
  CHECK(b.bytes() == 0);
  CHECK(iovecs(b).empty());
  b.append(nullptr, 0);
  b.append_copy({});
  CHECK(b.empty());
  CHECK(iovecs(b).empty());
}

TEST_CASE("WriteBatch references bytes inside the stable range") {
  const std::string input = "GET /a HTTP/1.1\r\nGET /b HTTP/1.1\r\n";
  WriteBatch b;
  b.reset(span_of(input, 0, input.size()));
  b.append(span_of(input, 4, 2));  // "/a"
  CHECK(b.bytes() == 2);
  std::vector<iovec> iov = iovecs(b);
  REQUIRE(iov.size() == 1);
  CHECK(iov[0].iov_base == input.data() + 4);
  CHECK(iov[0].iov_len == 2);

  // The whole range, and its very ends, are stable too.
  WriteBatch whole;
  whole.reset(span_of(input, 0, input.size()));
  whole.append(span_of(input, 0, 1));
  whole.append(span_of(input, input.size() - 1, 1));
  iov = iovecs(whole);
  REQUIRE(iov.size() == 2);
  CHECK(iov[0].iov_base == input.data());
  CHECK(iov[1].iov_base == input.data() + input.size() - 1);
}

TEST_CASE("WriteBatch copies bytes outside the stable range") {
  std::string input = "stable input";
  std::string reply = "reply bytes";
  WriteBatch b;
  b.reset(span_of(input, 0, input.size()));
  b.append(reply.data(), reply.size());
  std::vector<iovec> iov = iovecs(b);
  REQUIRE(iov.size() == 1);
  CHECK(iov[0].iov_base != static_cast<void*>(reply.data()));
  reply.assign(reply.size(), '#');  // the source may change right after append
  CHECK(joined(iovecs(b)) == "reply bytes");

  // Straddling either end of the stable range is not stable.
  std::string buf = "0123456789";
  WriteBatch s;
  s.reset(span_of(buf, 2, 5));   // "23456"
  s.append(span_of(buf, 2, 5));  // "23456": exactly the range
  s.append(span_of(buf, 1, 3));  // "123": starts before
  s.append(span_of(buf, 5, 3));  // "567": ends after
  iov = iovecs(s);
  REQUIRE(iov.size() == 2);
  CHECK(iov[0].iov_base == buf.data() + 2);
  CHECK(iov[1].iov_base != buf.data() + 1);
  CHECK(iov[1].iov_base != buf.data() + 5);
  buf.assign(buf.size(), '-');
  CHECK(std::string(static_cast<const char*>(iov[1].iov_base), iov[1].iov_len) == "123567");

  // Without a stable range everything is copied.
  std::string src = "abc";
  WriteBatch none;
  none.append(src.data(), 3);
  src = "xyz";
  iov = iovecs(none);
  REQUIRE(iov.size() == 1);
  CHECK(joined(iov) == "abc");
}

TEST_CASE("WriteBatch append_copy copies even stable bytes") {
  std::string input = "hello";
  WriteBatch b;
  b.reset(span_of(input, 0, input.size()));
  b.append_copy(span_of(input, 0, 5));
  std::vector<iovec> iov = iovecs(b);
  REQUIRE(iov.size() == 1);
  CHECK(iov[0].iov_base != input.data());
  input = "XXXXX";
  CHECK(joined(iovecs(b)) == "hello");
}

TEST_CASE("WriteBatch coalesces contiguous pieces") {
  const std::string input = "frame1frame2frame3|frame4";
  WriteBatch b;
  b.reset(span_of(input, 0, input.size()));
  b.append(span_of(input, 0, 6));
  b.append(span_of(input, 6, 6));
  b.append(span_of(input, 12, 6));
  std::vector<iovec> iov = iovecs(b);
  REQUIRE(iov.size() == 1);  // a pipelined echo is one iovec
  CHECK(iov[0].iov_base == input.data());
  CHECK(iov[0].iov_len == 18);

  b.append(span_of(input, 19, 6));  // skips the '|': a new piece
  iov = iovecs(b);
  REQUIRE(iov.size() == 2);
  CHECK(iov[1].iov_base == input.data() + 19);
  CHECK(joined(iov) == "frame1frame2frame3frame4");
  CHECK(b.bytes() == 24);

  // Consecutive copies share one piece of the scratch arena.
  WriteBatch c;
  std::string x = "abc", y = "def", z = "ghi";
  c.append(x.data(), 3);
  c.append_copy(span_of(y, 0, 3));
  std::memcpy(c.alloc(3), z.data(), 3);
  iov = iovecs(c);
  REQUIRE(iov.size() == 1);
  CHECK(joined(iov) == "abcdefghi");
}

TEST_CASE("WriteBatch alloc space appears in order") {
  const std::string input = "ABCD";
  WriteBatch b;
  b.reset(span_of(input, 0, input.size()));
  b.append(span_of(input, 0, 2));
  uint8_t* hdr = b.alloc(3);
  REQUIRE(hdr != nullptr);
  std::memcpy(hdr, "xyz", 3);
  b.append(span_of(input, 2, 2));
  std::memcpy(b.alloc(1), "!", 1);
  CHECK(b.bytes() == 8);
  std::vector<iovec> iov = iovecs(b);
  // "CD" follows copied bytes and is short: copied after them (one contiguous send).
  REQUIRE(iov.size() == 2);
  CHECK(iov[0].iov_base == input.data());
  CHECK(joined(iov) == "ABxyzCD!");
}

TEST_CASE("WriteBatch references a long stable piece after a header") {
  const std::string input(WriteBatch::kCopyAfterScratch + 1, 'p');
  WriteBatch b;
  b.reset(span_of(input, 0, input.size()));
  std::memcpy(b.alloc(4), "HDR:", 4);
  b.append(span_of(input, 0, input.size()));  // over the threshold: referenced
  std::memcpy(b.alloc(4), "HDR:", 4);
  b.append(span_of(input, 0, WriteBatch::kCopyAfterScratch));  // at it: copied
  std::vector<iovec> iov = iovecs(b);
  REQUIRE(iov.size() == 3);
  CHECK(iov[1].iov_base == input.data());
  CHECK(iov[2].iov_len == 4 + WriteBatch::kCopyAfterScratch);
  CHECK(joined(iov) == "HDR:" + input + "HDR:" + input.substr(1));
}

TEST_CASE("WriteBatch keeps earlier copies when the scratch arena grows") {
  WriteBatch b;
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    size_t n = static_cast<size_t>(1 + i * 97);
    std::string chunk(n, static_cast<char>('a' + i % 26));
    if (i % 2) {
      std::memcpy(b.alloc(n), chunk.data(), n);
    } else {
      b.append(chunk.data(), n);
    }
    expected += chunk;
  }
  CHECK(b.bytes() == expected.size());
  CHECK(joined(iovecs(b)) == expected);
}

TEST_CASE("WriteBatch reset forgets the previous batch") {
  std::string first = "first input";
  WriteBatch b;
  b.reset(span_of(first, 0, first.size()));
  b.append(span_of(first, 0, 5));
  std::memcpy(b.alloc(2), "..", 2);
  CHECK_FALSE(b.empty());

  std::string second = "second input";
  b.reset(span_of(second, 0, second.size()));
  CHECK(b.empty());
  CHECK(b.bytes() == 0);
  CHECK(iovecs(b).empty());
  // The old range is no longer stable.
  b.append(span_of(second, 0, 6));
  b.append(span_of(first, 0, 5));
  std::vector<iovec> iov = iovecs(b);
  REQUIRE(iov.size() == 2);
  CHECK(iov[0].iov_base == second.data());
  CHECK(iov[1].iov_base != first.data());
  first.assign(first.size(), '?');
  CHECK(joined(iov) == "secondfirst");
}

TEST_CASE("WriteBatch stays within kMaxPieces + 1 iovecs") {
  constexpr size_t kMax = WriteBatch::kMaxPieces;
  std::string input(8 * kMax, '\0');
  for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<char>('A' + i % 53);

  SUBCASE("non-contiguous stable pieces only") {
    WriteBatch b;
    b.reset(span_of(input, 0, input.size()));
    std::string expected;
    for (size_t i = 0; i < 3 * kMax && 2 * i + 1 < input.size(); ++i) {
      b.append(span_of(input, 2 * i, 1));  // every other byte: never contiguous
      expected += input[2 * i];
    }
    std::vector<iovec> iov = iovecs(b, 4 * kMax);
    CHECK(iov.size() <= kMax + 1);
    CHECK(iov.size() >= kMax);
    CHECK(joined(iov) == expected);
    CHECK(b.bytes() == expected.size());
    // The first kMaxPieces are still references.
    CHECK(iov[0].iov_base == input.data());
    CHECK(iov[kMax - 1].iov_base == input.data() + 2 * (kMax - 1));
    input.assign(input.size(), '\0');  // the copied tail does not depend on the input
    CHECK(std::string(static_cast<const char*>(iov.back().iov_base), iov.back().iov_len) ==
          expected.substr(expected.size() - iov.back().iov_len));
  }

  SUBCASE("random mix of references, copies and allocs") {
    std::mt19937 gen(99);
    for (int round = 0; round < 20; ++round) {
      CAPTURE(round);
      WriteBatch b;
      b.reset(span_of(input, 0, input.size()));
      std::string expected;
      std::string outside = "outside-the-range";
      size_t ops = 0;
      size_t pos = 0;
      const size_t count = 200 + gen() % (4 * kMax);
      for (size_t k = 0; k < count; ++k, ++ops) {
        switch (gen() % 4) {
          case 0:
          case 1: {  // a stable piece, sometimes contiguous with the previous one
            size_t n = 1 + gen() % 5;
            if (gen() % 3) pos += 1 + gen() % 3;
            if (pos + n > input.size()) pos = 0;
            b.append(span_of(input, pos, n));
            expected.append(input, pos, n);
            pos += n;
            break;
          }
          case 2: {
            size_t n = 1 + gen() % outside.size();
            b.append(outside.data(), n);
            expected.append(outside, 0, n);
            break;
          }
          default: {
            size_t n = gen() % 4;
            uint8_t* p = b.alloc(n);
            for (size_t i = 0; i < n; ++i) {
              p[i] = static_cast<uint8_t>('0' + (k + i) % 10);
              expected.push_back(static_cast<char>('0' + (k + i) % 10));
            }
            break;
          }
        }
      }
      std::vector<iovec> iov = iovecs(b, ops + 2);
      CHECK(iov.size() <= kMax + 1);
      CHECK(joined(iov) == expected);
      CHECK(b.bytes() == expected.size());
    }
  }
}
