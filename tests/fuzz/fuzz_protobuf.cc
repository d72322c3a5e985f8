// fuzz_protobuf: modules/protobuf (gev's protobuf framing: u32 length, u16 type-name
// length, type name, payload) through the generic harness, with the round-trip check
// (the type name travels as meta) and small max_frame limits.
#include "harness.h"

namespace {

const std::vector<gev::fuzz::Config> kConfigs = {
    {},
    {{"max_frame", "40"}},
    {{"max_frame", "2"}},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return gev::fuzz::run_module(kConfigs, data, size, {.roundtrip = true});
}
