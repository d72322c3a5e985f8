// gev-load --ws: the client side of RFC 6455 (handshake, masked frames, reading the
// server's frames) and of permessage-deflate (RFC 7692). Written from the RFCs, not
// shared with modules/websocket, so the load generator checks the server independently.
#ifndef GEV_BENCH_LOAD_WS_CLIENT_H_
#define GEV_BENCH_LOAD_WS_CLIENT_H_

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

typedef struct ssl_st SSL;

namespace gev::load::ws {

inline constexpr uint8_t kText = 1;
inline constexpr uint8_t kBinary = 2;
inline constexpr uint8_t kClose = 8;

// What the server's 101 response agreed to.
struct Session {
  bool deflate = false;
  int client_window_bits = 15;              // our compressor's window may not exceed it
  bool client_no_context_takeover = false;  // reset our compressor after each message
};

// Client handshake on a connected blocking socket (the caller bounds it with
// SO_RCVTIMEO/SO_SNDTIMEO). Checks the 101 status, Upgrade, Connection and
// Sec-WebSocket-Accept, and that deflate was accepted iff offered. Returns "" on
// success, else what went wrong.
// With `ssl` set (--tls) the request and response travel over that TLS session.
std::string Handshake(int fd, SSL* ssl, const std::string& host, const std::string& path,
                      bool offer_deflate, Session* out);

// base64(SHA-1(key + RFC 6455 GUID)).
std::string AcceptFor(const std::string& key);

// Client frames are always masked, so the header is 2 + (0|2|8) + 4 bytes.
size_t HeaderSize(uint64_t payload_len);
// Writes a FIN frame header (HeaderSize(len) bytes) with the given opcode, RSV1 and mask.
void WriteHeader(uint8_t* dst, uint8_t opcode, bool rsv1, uint64_t len, uint32_t mask);
// XORs p[0..n) with the 4-byte mask (mask byte i applies to payload byte i % 4).
void ApplyMask(uint8_t* p, size_t n, uint32_t mask);

// Raw deflate of whole messages, each ending in a sync flush whose 00 00 FF FF tail is
// removed (RFC 7692 7.2.1).
class Compressor {
 public:
  Compressor(int window_bits, int level, bool reset_each);
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;
  bool ok() const { return ok_; }
  // Appends the compressed form of in[0..n) to out.
  bool Compress(const uint8_t* in, size_t n, std::vector<uint8_t>& out);

 private:
  z_stream zs_{};
  bool ok_ = false;
  bool reset_each_ = false;
};

// Inflates compressed message payloads; the server may keep its context between
// messages, so one stream lives as long as the connection.
class Decompressor {
 public:
  Decompressor();
  ~Decompressor();
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;
  bool ok() const { return ok_; }
  // Inflates in[0..n) and hands the output to sink(const uint8_t*, size_t) -> bool in
  // pieces. With `end`, the message's 00 00 FF FF tail is fed after the input.
  // Returns "" or an error; a false from sink stops with "rejected".
  template <class Sink>
  std::string Feed(const uint8_t* in, size_t n, bool end, Sink&& sink);

 private:
  // One inflate call over the pending input into buf_.
  std::string Step(const uint8_t** out, size_t* out_n);

  z_stream zs_{};
  bool ok_ = false;
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(16 * 1024);
};

template <class Sink>
std::string Decompressor::Feed(const uint8_t* in, size_t n, bool end, Sink&& sink) {
  static const uint8_t kTail[4] = {0x00, 0x00, 0xFF, 0xFF};
  for (int part = 0; part < (end ? 2 : 1); ++part) {
    zs_.next_in = const_cast<Bytef*>(part == 0 ? in : kTail);
    zs_.avail_in = static_cast<uInt>(part == 0 ? n : sizeof kTail);
    // Each turn either consumes input or fills the output buffer, so this ends; the
    // bound is a guard against a zlib that does neither.
    for (int guard = 0; guard < (1 << 20); ++guard) {
      const uint8_t* out = nullptr;
      size_t out_n = 0;
      std::string err = Step(&out, &out_n);
      if (!err.empty()) return err;
      if (out_n > 0 && !sink(out, out_n)) return "rejected";
      if (zs_.avail_in == 0 && out_n < buf_.size()) break;
    }
  }
  return "";
}

// Incremental reader of the server's frames. Each echo must be one FIN frame of the
// expected opcode, unmasked; its payload (inflated when RSV1 is set) goes to the sink.
class Reader {
 public:
  struct Sink {
    virtual ~Sink() = default;
    // A frame starts (before any payload byte); false to reject it.
    virtual bool Begin() = 0;
    // Message payload bytes in order; false to reject them.
    virtual bool Bytes(const uint8_t* p, size_t n) = 0;
    // The message is complete; false to reject it.
    virtual bool End() = 0;
  };

  Reader(uint8_t opcode, uint64_t size, Decompressor* inflater)
      : opcode_(opcode), size_(size), inflater_(inflater) {}
  // Consumes p[0..n). Returns "" or the first protocol error (the stream is then dead).
  std::string Feed(const uint8_t* p, size_t n, Sink& sink);

 private:
  // Header bytes needed so far: 2, then the extended length and mask key they announce.
  size_t HeaderNeed() const;
  std::string ParseHeader(Sink& sink);
  std::string EndFrame(Sink& sink);

  const uint8_t opcode_;
  const uint64_t size_;
  Decompressor* const inflater_;  // null unless deflate was negotiated
  uint8_t hdr_[14] = {};
  size_t hdr_len_ = 0;
  bool in_payload_ = false;
  bool compressed_ = false;
  bool closing_ = false;  // the server sent a close frame: collect it to name the code
  uint64_t left_ = 0;     // payload bytes of the current frame still to come
  std::string close_payload_;
};

}  // namespace gev::load::ws

#endif  // GEV_BENCH_LOAD_WS_CLIENT_H_
