// permessage-deflate (RFC 7692) with zlib: raw deflate streams, one message at a time,
// with or without context takeover.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "bytes.h"

namespace gev::ws {

class Inflater {
 public:
  enum class Result { kOk, kTooBig, kError };
  Inflater();
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  bool ok() const { return ok_; }

  // Inflates a piece of a compressed message, appending to `out`; refuses to let `out`
  // grow past `limit` (so a small "zip bomb" cannot make a large message).
  Result feed(const uint8_t* in, size_t n, Bytes& out, size_t limit);
  // Ends the message (the 00 00 FF FF tail the sender stripped); with no context
  // takeover the window is dropped for the next message.
  Result finish(Bytes& out, size_t limit, bool reset);

 private:
  z_stream zs_{};
  bool ok_ = false;
  bool ended_ = false;  // the sender ended the deflate stream inside this message
};

class Deflater {
 public:
  Deflater(int level, int window_bits);
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  bool ok() const { return ok_; }

  // Compresses one whole message into `out` (replacing its contents), without the
  // 00 00 FF FF tail. `reset`: no context takeover.
  bool compress(const uint8_t* in, size_t n, std::vector<uint8_t>& out, bool reset);

 private:
  z_stream zs_{};
  bool ok_ = false;
};

}  // namespace gev::ws
