// fuzz_line: modules/line through the generic harness: one- and multi-byte delimiters,
// self-overlapping ones ("aa", "\r\n\r\n" style) and short max_length limits.
#include "harness.h"

namespace {

const std::vector<gev::fuzz::Config> kConfigs = {
    {},
    {{"delimiter", "\\r\\n"}, {"max_length", "16"}},
    {{"delimiter", "abc"}, {"max_length", "8"}},
    {{"delimiter", "\\0"}, {"max_length", "1"}},
    {{"delimiter", "aa"}, {"max_length", "5"}},
    {{"delimiter", "\\r\\n\\r\\n"}, {"max_length", "64"}},
    {{"delimiter", "aab"}, {"max_length", "3"}},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return gev::fuzz::run_module(kConfigs, data, size, {.roundtrip = true});
}
