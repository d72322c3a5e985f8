// The generic fuzz harness: drives the protocol module linked into this executable
// through its real ABI entry point (gev_module_entry), with a fake host (fake_host.h)
// and gev-host's read loop (core/src/connection.cc Connection::process and
// host/src/pipeline.cc) re-enacted around an echo handler.
//
// A fuzz input is:
//   byte 0        bits 0-5: which config (modulo the target's list); bit 6: fire every
//                 timer once after the last chunk; bit 7: fire them after every chunk
//   byte 1        n = byte % 8: how many chunk-size bytes follow
//   n bytes       chunk sizes, used in turn (0: all that is left); none: one chunk
//   the rest      the bytes the peer sends, delivered in those chunks, then EOF
//
// The harness aborts (a crash for libFuzzer) when the module breaks the decode
// contract: FRAME consuming nothing, consuming more than it was given, a status that is
// not NEED_MORE/FRAME/ERROR, or a bad handle passed to the host. An input given in
// several chunks (and no timers between them) is run a second time as one chunk: the
// output and whether the connection closed must be the same.
#ifndef GEV_FUZZ_HARNESS_H
#define GEV_FUZZ_HARNESS_H

#include <gev/sdk/gev_module.h>

#include <cstddef>
#include <cstdint>
#include <vector>

// Defined by the module's own source, compiled into the fuzzer.
extern "C" const gev_module_descriptor* gev_module_entry(const gev_host_api* host,
                                                         uint32_t host_abi_major,
                                                         uint32_t host_abi_minor);

namespace gev::fuzz {

// One module configuration: the key/value pairs `--module-opt NAME.KEY=VALUE` gives.
using Config = std::vector<gev_config_entry>;

// Extra properties a target can ask for.
struct Checks {
  // Each echoed reply, encoded, decodes (on a fresh connection state of the same module)
  // to exactly one frame with the same data and meta, consuming all of it. For symmetric framings
  // (length_field, line), not for WebSocket (the server never reads unmasked frames).
  bool roundtrip = false;
  // Judges everything the module encoded for one input: nullptr if fine, else why not.
  const char* (*output)(const std::vector<uint8_t>& out) = nullptr;
};

// Runs one input; returns 0 (libFuzzer's "keep going").
int run_module(const std::vector<Config>& configs, const uint8_t* data, size_t size,
               Checks checks = {});

}  // namespace gev::fuzz

#endif  // GEV_FUZZ_HARNESS_H
