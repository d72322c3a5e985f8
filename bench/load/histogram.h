// Log-linear latency histogram for gev-load: fixed memory, ~3% value
// precision, so percentiles come without storing every sample.
#ifndef GEV_BENCH_LOAD_HISTOGRAM_H_
#define GEV_BENCH_LOAD_HISTOGRAM_H_

#include <array>
#include <bit>
#include <cstdint>

namespace gev::load {

class Histogram {
 public:
  // Values below kSub get one bucket each; every power of two above that is
  // split into kSub linear sub-buckets (2^-kSubBits relative error).
  static constexpr int kSubBits = 5;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  static constexpr int kBuckets = static_cast<int>(kSub) * (64 - kSubBits + 1);

  void Record(uint64_t v) {
    ++counts_[Index(v)];
    ++count_;
    if (v > max_) max_ = v;
  }

  void Merge(const Histogram& o) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    if (o.max_ > max_) max_ = o.max_;
  }

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }

  // Value at quantile q in [0,1] (bucket midpoint); 0 if empty.
  uint64_t Quantile(double q) const {
    if (count_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_));
    if (rank >= count_) rank = count_ - 1;
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > rank) return Midpoint(i);
    }
    return max_;
  }

 private:
  static int Index(uint64_t v) {
    if (v < kSub) return static_cast<int>(v);
    int msb = 63 - std::countl_zero(v);
    int shift = msb - kSubBits;          // >= 0 here
    uint64_t sub = (v >> shift) - kSub;  // in [0, kSub)
    return static_cast<int>(kSub * (shift + 1) + sub);
  }

  static uint64_t Midpoint(int i) {
    if (static_cast<uint64_t>(i) < kSub) return static_cast<uint64_t>(i);
    int shift = i / static_cast<int>(kSub) - 1;
    uint64_t sub = static_cast<uint64_t>(i) % kSub;
    uint64_t lower = (kSub + sub) << shift;
    return lower + ((uint64_t{1} << shift) >> 1);
  }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

}  // namespace gev::load

#endif  // GEV_BENCH_LOAD_HISTOGRAM_H_
