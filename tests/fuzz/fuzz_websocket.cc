// fuzz_websocket: modules/websocket with permessage-deflate on, through the generic
// harness: the handshake, then frames (the seeds start with a valid handshake; see
// make_seeds.py). Configs: 0 the defaults; 1 small limits (max_message, max_head, max_headers) and
// subprotocols; 2 no context takeover, 9-bit windows, every server message compressed;
// 3 a one-byte max_message and timers that fire at once when the harness fires them.
#include "harness.h"
#include "ws_output_check.h"

namespace {

const std::vector<gev::fuzz::Config> kConfigs = {
    {},
    {{"max_message", "64"},
     {"max_head", "256"},
     {"max_headers", "4"},
     {"subprotocols", "chat,superchat"},
     {"deflate_threshold", "0"}},
    {{"server_no_context_takeover", "1"},
     {"client_no_context_takeover", "1"},
     {"server_max_window_bits", "9"},
     {"client_max_window_bits", "9"},
     {"deflate_level", "9"},
     {"deflate_threshold", "0"}},
    {{"max_message", "1"}, {"handshake_timeout_ms", "1"}, {"close_timeout_ms", "1"}},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return gev::fuzz::run_module(kConfigs, data, size, {.output = gev::fuzz::check_ws_output});
}
