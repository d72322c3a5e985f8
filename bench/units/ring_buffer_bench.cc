// RingBuffer and WriteBatch costs: the per-read bookkeeping of a connection.
#include <benchmark/benchmark.h>
#include <gev/ring_buffer.h>
#include <gev/write_batch.h>

#include <vector>

namespace {

// Steady state of a connection with leftovers: append a read, consume what decoded.
void BM_RingWriteConsume(benchmark::State& state) {
  size_t n = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> chunk(n, 0x5a);
  gev::RingBuffer ring;
  for (auto _ : state) {
    if (!ring.write(chunk.data(), n)) state.SkipWithError("cap");
    ring.consume(n);
    benchmark::DoNotOptimize(ring.size());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_RingWriteConsume)->Arg(64)->Arg(512)->Arg(16384);

// A partial frame left behind and then completed: write, peek two spans, read.
void BM_RingWrapPeekRead(benchmark::State& state) {
  size_t n = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> chunk(n, 1), out(n);
  gev::RingBuffer ring;
  if (!ring.write(chunk.data(), n / 2)) return;  // offset so writes wrap
  for (auto _ : state) {
    if (!ring.write(chunk.data(), n)) state.SkipWithError("cap");
    gev::RingBuffer::Spans s = ring.peek(n);
    benchmark::DoNotOptimize(s.first.data());
    ring.read(out.data(), n);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_RingWrapPeekRead)->Arg(512)->Arg(16384);

void BM_RingPeekBe32(benchmark::State& state) {
  gev::RingBuffer ring;
  uint8_t hdr[8] = {0, 0, 1, 0, 9, 9, 9, 9};
  if (!ring.write(hdr, sizeof hdr)) return;
  uint32_t v = 0;
  for (auto _ : state) {
    ring.peek_be(0, &v);
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_RingPeekBe32);

// Gathering the replies of one read: referenced pieces (echo) and header+payload pairs
// (length-prefixed protocols).
void BM_WriteBatchGather(benchmark::State& state) {
  size_t frames = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> input(frames * 64, 7);
  gev::WriteBatch batch;
  iovec iov[gev::WriteBatch::kMaxPieces + 1];
  for (auto _ : state) {
    batch.reset(input);
    for (size_t i = 0; i < frames; ++i) {
      uint8_t* h = batch.alloc(4);
      h[0] = h[1] = h[2] = 0;
      h[3] = 64;
      batch.append(std::span<const uint8_t>(input).subspan(i * 64, 64));
    }
    benchmark::DoNotOptimize(batch.to_iovec(iov));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * frames));
}
BENCHMARK(BM_WriteBatchGather)->Arg(1)->Arg(8)->Arg(256);

}  // namespace
