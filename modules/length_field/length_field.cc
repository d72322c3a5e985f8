// length_field: frames carry a length prefix of 1, 2, 4 or 8 bytes, big or little endian
// (gev's length-field unpacker). The frame is the payload only; a reply gets a fresh header.
//
//   --module-opt length_field.bytes=4         1, 2, 4 or 8 (default 4)
//   --module-opt length_field.endian=big      big or little (default big)
//   --module-opt length_field.max_frame=N     largest payload accepted, bytes (default 16 MiB)
//
// A length over max_frame is a decode error: the host closes that connection. (The core
// also caps a connection's undecoded input, 64 MiB by default: a max_frame above that cap
// cannot be reached.) A zero-length frame is delivered to the handler with empty data;
// since an empty reply means "no reply" in the handler ABI, echo answers it with nothing.
// encode refuses a payload the header cannot express (e.g. 256 bytes with bytes=1).
#include <gev/sdk/cpp/module.h>

#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

constexpr const char* kName = "length_field";

class LengthField : public gev::sdk::Protocol {
 public:
  explicit LengthField(const gev::sdk::Config& cfg) {
    cfg.allow_only({"bytes", "endian", "max_frame"});
    uint64_t bytes = cfg.get_uint("bytes", 4);
    if (bytes != 1 && bytes != 2 && bytes != 4 && bytes != 8)
      throw std::invalid_argument(std::string(kName) + ".bytes must be 1, 2, 4 or 8, got '" +
                                  cfg.get("bytes") + "'");
    bytes_ = static_cast<uint32_t>(bytes);
    std::string endian = cfg.get("endian", "big");
    if (endian != "big" && endian != "little")
      throw std::invalid_argument(std::string(kName) + ".endian must be big or little, got '" +
                                  endian + "'");
    big_ = endian == "big";
    max_frame_ = cfg.get_uint("max_frame", uint64_t{16} << 20);
    // The largest length the header can carry.
    max_encodable_ = bytes_ == 8 ? UINT64_MAX : (uint64_t{1} << (8 * bytes_)) - 1;
  }

  void decode(gev::sdk::Conn, void*, gev_bytes in, gev_decode_result& out) override {
    if (in.len < bytes_) {
      out.status = GEV_DECODE_NEED_MORE;
      return;
    }
    uint64_t len = 0;
    for (uint32_t i = 0; i < bytes_; ++i) {
      uint8_t b = in.ptr[big_ ? i : bytes_ - 1 - i];
      len = (len << 8) | b;
    }
    if (len > max_frame_) {
      out.status = GEV_DECODE_ERROR;
      out.error = "length_field: frame length exceeds length_field.max_frame";
      return;
    }
    if (in.len - bytes_ < len) {
      out.status = GEV_DECODE_NEED_MORE;
      return;
    }
    out.status = GEV_DECODE_FRAME;
    out.consumed = bytes_ + len;
    out.frame.data = {in.ptr + bytes_, len};  // a view into the input: no copy
  }

  gev_status encode(gev::sdk::Conn, void*, const gev_frame& msg, gev::sdk::Writer& w) override {
    uint64_t len = msg.data.len;
    if (len > max_encodable_) {
      gev::sdk::log(GEV_LOG_WARN, kName, "a reply too long for the length header: closing");
      return GEV_ERR_INVALID;
    }
    uint8_t* h = w.reserve(bytes_);
    if (!h) return GEV_ERR_NOMEM;
    for (uint32_t i = 0; i < bytes_; ++i) {
      uint32_t shift = 8 * (big_ ? bytes_ - 1 - i : i);
      h[i] = static_cast<uint8_t>(len >> shift);
    }
    // The header is filled before the next writer call, as reserve() requires.
    return w.append(msg.data);
  }

 private:
  uint32_t bytes_ = 4;
  bool big_ = true;
  uint64_t max_frame_ = 0;
  uint64_t max_encodable_ = 0;
};

}  // namespace

GEV_PROTOCOL_MODULE(LengthField, "length_field", "1.0.0")
