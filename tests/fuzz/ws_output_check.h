// What the websocket module writes, read back as a client would: one HTTP response
// head, then (after a 101) well-formed server frames: FIN set, unmasked, lengths in
// their shortest form, RSV1 only on compressed text/binary with permessage-deflate
// agreed, control frames of at most 125 bytes, close codes a server may send, text
// (inflated when compressed) that is valid UTF-8, nothing after a close.
#ifndef GEV_FUZZ_WS_OUTPUT_CHECK_H
#define GEV_FUZZ_WS_OUTPUT_CHECK_H

#include <cstdint>
#include <vector>

namespace gev::fuzz {

// nullptr when `out` is valid server output; otherwise what is wrong with it.
const char* check_ws_output(const std::vector<uint8_t>& out);

}  // namespace gev::fuzz

#endif  // GEV_FUZZ_WS_OUTPUT_CHECK_H
