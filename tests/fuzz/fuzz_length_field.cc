// fuzz_length_field: modules/length_field through the generic harness, with every
// header width, both byte orders and small max_frame limits (so the limit is reached).
#include "harness.h"

namespace {

const std::vector<gev::fuzz::Config> kConfigs = {
    {},
    {{"bytes", "1"}},
    {{"bytes", "2"}, {"endian", "little"}, {"max_frame", "300"}},
    {{"bytes", "4"}, {"max_frame", "0"}},
    {{"bytes", "8"}, {"max_frame", "1000"}},
    {{"bytes", "8"}, {"endian", "little"}},
    {{"bytes", "1"}, {"endian", "little"}, {"max_frame", "7"}},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return gev::fuzz::run_module(kConfigs, data, size, {.roundtrip = true});
}
