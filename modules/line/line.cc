// line: frames end with a delimiter (gev's line-based unpacker). The frame excludes the
// delimiter; encode appends payload + delimiter.
//
//   --module-opt line.delimiter=\n      one or more bytes (default "\n"); the escapes
//                                       \n \r \t \0 and \\ are understood, so "\r\n" works
//   --module-opt line.max_length=N      longest line, delimiter excluded (default 64 KiB)
//
// A connection that sends more than max_length bytes without a delimiter gets a decode
// error (the host closes it). An empty line is delivered with empty data, and echo
// answers it with an empty line (a non-NULL reply of length 0 is an empty message).
#include <gev/sdk/cpp/module.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

constexpr const char* kName = "line";

// Per connection: how far the input has been searched for a delimiter, so a long line
// arriving in many pieces is scanned once, not once per piece.
struct LineConn {
  uint64_t scanned = 0;
};

class Line : public gev::sdk::Protocol {
 public:
  explicit Line(const gev::sdk::Config& cfg) {
    cfg.allow_only({"delimiter", "max_length"});
    delimiter_ = cfg.get_escaped("delimiter", "\n");
    if (delimiter_.empty()) throw std::invalid_argument("line.delimiter must not be empty");
    max_length_ = cfg.get_uint("max_length", uint64_t{64} << 10);
    if (max_length_ == 0) throw std::invalid_argument("line.max_length must be at least 1");
    // The longest input that can still hold a line and its delimiter (saturating).
    limit_ =
        max_length_ > UINT64_MAX - delimiter_.size() ? UINT64_MAX : max_length_ + delimiter_.size();
  }

  void* conn_open(gev::sdk::Conn) override { return new LineConn; }
  void conn_close(gev::sdk::Conn, void* cs) override { delete static_cast<LineConn*>(cs); }

  void decode(gev::sdk::Conn, void* cs, gev_bytes in, gev_decode_result& out) override {
    auto* st = static_cast<LineConn*>(cs);
    const uint64_t dlen = delimiter_.size();
    // A delimiter starting past max_length means the line is too long: look no further.
    const uint64_t window = std::min<uint64_t>(in.len, limit_);
    uint64_t from = st && st->scanned <= window ? st->scanned : 0;
    std::string_view text(reinterpret_cast<const char*>(in.ptr), static_cast<size_t>(window));
    size_t at = dlen == 1 ? text.find(delimiter_[0], from) : text.find(delimiter_, from);
    if (at != std::string_view::npos) {
      if (st) st->scanned = 0;
      out.status = GEV_DECODE_FRAME;
      out.consumed = at + dlen;
      out.frame.data = {in.ptr, at};  // a view into the input: no copy
      return;
    }
    if (in.len >= limit_) {
      out.status = GEV_DECODE_ERROR;
      out.error = "line: no delimiter within line.max_length bytes";
      return;
    }
    // The last dlen-1 bytes may hold the start of a delimiter: search them again.
    if (st) st->scanned = window >= dlen - 1 ? window - (dlen - 1) : 0;
    out.status = GEV_DECODE_NEED_MORE;
  }

  gev_status encode(gev::sdk::Conn, void*, const gev_frame& msg, gev::sdk::Writer& w) override {
    if (gev_status st = w.append(msg.data); st != GEV_OK) return st;
    return w.append(gev::sdk::bytes(std::string_view(delimiter_)));
  }

 private:
  std::string delimiter_;
  uint64_t max_length_ = 0;
  uint64_t limit_ = 0;
};

}  // namespace

GEV_PROTOCOL_MODULE(Line, "line", "1.0.0")
