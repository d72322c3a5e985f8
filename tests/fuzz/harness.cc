// The generic fuzz harness (see harness.h): one module instance, one loop, one
// connection per input, fed in chunks the way gev-host reads a socket.
#include "harness.h"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>

#include "fake_host.h"

namespace gev::fuzz {

namespace {

[[noreturn]] void violation(const char* what) {
  std::fprintf(stderr, "fuzz harness: the module broke its contract: %s\n", what);
  std::abort();
}

const gev_module_descriptor* descriptor() {
  static const gev_module_descriptor* d = [] {
    const gev_module_descriptor* m =
        gev_module_entry(FakeHost::api(), GEV_ABI_MAJOR, GEV_ABI_MINOR);
    if (!m || m->abi_major != GEV_ABI_MAJOR || !(m->kind & GEV_MODULE_PROTOCOL) || !m->protocol ||
        !m->protocol->decode || !m->protocol->encode || !m->create || !m->destroy)
      violation("gev_module_entry gave no usable protocol module");
    return m;
  }();
  return d;
}

// The input split as harness.h describes.
struct Input {
  uint32_t config = 0;
  bool fire_at_end = false;
  bool fire_each_chunk = false;
  std::span<const uint8_t> sizes;
  std::span<const uint8_t> payload;
};

Input parse(const uint8_t* data, size_t size, size_t configs) {
  Input in;
  in.config = static_cast<uint32_t>((data[0] & 0x3f) % configs);
  in.fire_at_end = data[0] & 0x40;
  in.fire_each_chunk = data[0] & 0x80;
  size_t n = std::min<size_t>(data[1] % 8, size - 2);
  in.sizes = {data + 2, n};
  in.payload = {data + 2 + n, size - 2 - n};
  return in;
}

// One connection through the pipeline: Pipeline::on_connect/decode/on_message/encode/
// on_close around Connection::process's loop.
class Session {
 public:
  Session(FakeHost& host, const gev_module_descriptor& d, void* state, Checks checks)
      : host_(host), proto_(*d.protocol), state_(state), conn_(host.conn_state()), checks_(checks) {
    // A module built before ABI 1.1 has a shorter table: never read past its size.
    if (proto_.size >= offsetof(gev_protocol_vtable, after_message) + sizeof(proto_.after_message))
      after_message_ = proto_.after_message;
  }

  void open() {
    if (proto_.conn_open) conn_.protocol_state = proto_.conn_open(state_, host_.conn());
    // The echo handler has no on_connect: the connection is accepted.
  }

  // One read() worth of bytes (Connection::handle_read).
  void read(std::span<const uint8_t> chunk) {
    if (conn_.state != ConnState::kConnected) return;  // closing: input no longer wanted
    if (conn_.paused || !pending_.empty()) {
      pending_.insert(pending_.end(), chunk.begin(), chunk.end());
      if (!conn_.paused) process_pending();
      return;
    }
    // Decoded straight from the read buffer: an exact-size copy, so ASan sees a read
    // past the end, and freed afterwards, so a view kept past on_message is a
    // use-after-free.
    std::unique_ptr<uint8_t[]> buf(new uint8_t[chunk.size()]);
    std::memcpy(buf.get(), chunk.data(), chunk.size());
    conn_.input_size = 0;
    size_t off = process({buf.get(), chunk.size()});
    if (off < chunk.size() && conn_.state == ConnState::kConnected)
      pending_.assign(buf.get() + off, buf.get() + chunk.size());
  }

  // After timers or posted tasks: resume_reading decodes what waited (as the host does
  // outside a dispatch).
  void resume_if_unpaused() {
    if (!conn_.paused && !pending_.empty() && conn_.state == ConnState::kConnected)
      process_pending();
  }

  // The peer's EOF, or the end of a close: on_close, owned timers, protocol conn_close.
  void close() {
    if (conn_.state == ConnState::kConnected) conn_.state = ConnState::kClosing;
    host_.cancel_owned_timers();
    if (proto_.conn_close) proto_.conn_close(state_, host_.conn(), conn_.protocol_state);
    conn_.protocol_state = nullptr;
    conn_.gone = true;
    pending_.clear();
  }

 private:
  void process_pending() {
    // Connection::process(in_.linearize()): a fresh exact-size copy, for the same reasons.
    std::unique_ptr<uint8_t[]> buf(new uint8_t[pending_.size()]);
    std::memcpy(buf.get(), pending_.data(), pending_.size());
    size_t len = pending_.size();
    conn_.input_size = len;
    size_t off = process({buf.get(), len});
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(off));
    conn_.input_size = pending_.size();
  }

  // Connection::process: decode while input remains; returns the bytes consumed.
  size_t process(std::span<const uint8_t> in) {
    size_t off = 0;
    while (off < in.size() && conn_.state == ConnState::kConnected) {
      gev_decode_result r{};
      r.size = sizeof r;
      r.frame.size = sizeof(gev_frame);
      gev_bytes view{in.data() + off, in.size() - off};
      proto_.decode(state_, host_.conn(), conn_.protocol_state, view, &r);
      if (r.status == GEV_DECODE_ERROR) {  // consumed means nothing then
        if (r.error) (void)std::strlen(r.error);
        if (conn_.state == ConnState::kConnected) conn_.state = ConnState::kClosing;
        break;
      }
      if (r.consumed > view.len) violation("consumed more input than it was given");
      if (r.status == GEV_DECODE_FRAME) {
        if (r.consumed == 0) violation("FRAME without consuming input");
        on_frame(r.frame);
      } else if (r.status != GEV_DECODE_NEED_MORE) {
        violation("a decode status that is not NEED_MORE, FRAME or ERROR");
      }
      off += r.consumed;
      if (r.status == GEV_DECODE_NEED_MORE && r.consumed == 0) break;
    }
    return off;
  }

  // Pipeline::on_message with the echo handler, then Connection::process's encode.
  void on_frame(const gev_frame& frame) {
    gev_frame msg{sizeof(gev_frame), frame.type, frame.data, frame.meta};
    gev_frame reply = msg;
    reply.data = msg.data;  // echo
    if (after_message_)
      after_message_(state_, host_.conn(), conn_.protocol_state, &msg, &reply, GEV_OK);
    // No reply is a null pointer; a non-null empty view is an empty message (sent).
    if (!reply.data.ptr) return;
    if (reply.type != msg.type || reply.meta.ptr != msg.meta.ptr) {
      gev_frame out{sizeof(gev_frame), reply.type, reply.data, reply.meta};
      host_.send(host_.conn(), &out);  // the pipeline sends a changed type/meta
      return;
    }
    if (conn_.write_shut || conn_.state == ConnState::kClosed) return;
    host_.encode(gev_frame{sizeof(gev_frame), msg.type, reply.data, msg.meta});
    if (checks_.roundtrip && conn_.state != ConnState::kClosed)
      check_roundtrip(reply.data, msg.meta);
  }

  // Decodes what encode wrote with a second connection state of the module.
  static bool same(gev_bytes a, gev_bytes b) {
    return a.len == b.len && (a.len == 0 || std::memcmp(a.ptr, b.ptr, a.len) == 0);
  }
  void check_roundtrip(gev_bytes data, gev_bytes meta) {
    std::vector<uint8_t> wire = host_.last_encoded;
    void* cs = proto_.conn_open ? proto_.conn_open(state_, host_.conn()) : nullptr;
    std::unique_ptr<uint8_t[]> buf(new uint8_t[wire.size()]);
    std::memcpy(buf.get(), wire.data(), wire.size());
    gev_decode_result r{};
    r.size = sizeof r;
    r.frame.size = sizeof(gev_frame);
    proto_.decode(state_, host_.conn(), cs, {buf.get(), wire.size()}, &r);
    bool ok = r.status == GEV_DECODE_FRAME && r.consumed == wire.size() &&
              same(r.frame.data, data) && same(r.frame.meta, meta);
    if (proto_.conn_close) proto_.conn_close(state_, host_.conn(), cs);
    if (!ok) violation("an encoded reply does not decode back to itself");
  }

  FakeHost& host_;
  const gev_protocol_vtable& proto_;
  void* state_;
  FakeConn& conn_;
  Checks checks_;
  decltype(gev_protocol_vtable::after_message) after_message_ = nullptr;
  std::vector<uint8_t> pending_;  // the connection's ring: undecoded leftovers
};

// What one run left behind, for comparing runs of the same input.
struct Outcome {
  std::vector<uint8_t> output;  // everything encoded, in order
  ConnState state;
  bool write_shut;
};

Outcome run_once(const Config& cfg, const Input& in, Checks checks) {
  const gev_module_descriptor& d = *descriptor();
  FakeHost host;
  FakeHost::current = &host;
  gev_config config{sizeof(gev_config), static_cast<uint32_t>(cfg.size()), cfg.data()};
  void* state = nullptr;
  host.set_creating(true);
  if (d.create(FakeHost::api(), &config, &state) != GEV_OK)
    violation("create refused one of the target's configs");
  host.set_creating(false);
  if (d.loop_init && d.loop_init(state, host.loop()) != GEV_OK)
    violation("loop_init failed on a fresh loop");
  host.set_protocol(d.protocol, state);

  Session session(host, d, state, checks);
  session.open();
  std::span<const uint8_t> rest = in.payload;
  for (size_t i = 0; !rest.empty() && host.conn_state().state == ConnState::kConnected; ++i) {
    size_t n = in.sizes.empty() ? 0 : in.sizes[i % in.sizes.size()];
    if (n == 0 || n > rest.size()) n = rest.size();
    session.read(rest.first(n));
    rest = rest.subspan(n);
    host.run_posted();
    if (in.fire_each_chunk) host.fire_timers();
    session.resume_if_unpaused();
  }
  if (in.fire_at_end) {
    host.fire_timers();
    host.run_posted();
  }
  Outcome out{std::move(host.transcript), host.conn_state().state, host.conn_state().write_shut};
  session.close();
  host.run_posted();  // tasks posted before the close still run; the conn is gone

  host.drop_loop_work();
  if (d.loop_fini) d.loop_fini(state, host.loop());
  d.destroy(state);
  FakeHost::current = nullptr;
  return out;
}

}  // namespace

int run_module(const std::vector<Config>& configs, const uint8_t* data, size_t size,
               Checks checks) {
  if (size < 2 || configs.empty()) return 0;
  Input in = parse(data, size, configs.size());
  const Config& cfg = configs[in.config];
  Outcome chunked = run_once(cfg, in, checks);
  if (checks.output) {
    if (const char* why = checks.output(chunked.output)) {
      std::fprintf(stderr, "fuzz harness: bad output: %s\n", why);
      std::abort();
    }
  }
  // The host reads whatever the socket has: how the bytes were split must not change
  // what the module answers or whether it closes. (Timers fired between chunks would.)
  if (!in.sizes.empty() && !in.fire_each_chunk) {
    Input whole = in;
    whole.sizes = {};
    Outcome once = run_once(cfg, whole, checks);
    if (once.output != chunked.output || once.state != chunked.state ||
        once.write_shut != chunked.write_shut)
      violation("the answer depends on how the input was split into reads");
  }
  return 0;
}

}  // namespace gev::fuzz
