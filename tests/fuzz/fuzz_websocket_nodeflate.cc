// fuzz_websocket_nodeflate: modules/websocket with permessage-deflate off (websocket.
// deflate=0), so offers are declined and RSV1 is always a protocol error. The seeds are
// fuzz_websocket's (make_seeds.py); the config indices mean the same.
#include "harness.h"
#include "ws_output_check.h"

namespace {

const std::vector<gev::fuzz::Config> kConfigs = {
    {{"deflate", "0"}},
    {{"deflate", "0"},
     {"max_message", "64"},
     {"max_head", "256"},
     {"max_headers", "4"},
     {"subprotocols", "chat,superchat"}},
    {{"deflate", "0"}, {"max_message", "100000"}},
    {{"deflate", "0"},
     {"max_message", "1"},
     {"handshake_timeout_ms", "1"},
     {"close_timeout_ms", "1"}},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return gev::fuzz::run_module(kConfigs, data, size, {.output = gev::fuzz::check_ws_output});
}
