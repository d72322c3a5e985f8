// gev/sdk/cpp/module.h: write a gev module as a C++ class. Header-only; nothing here
// crosses the boundary (the host sees only the C ABI). Every callback goes through a
// noexcept trampoline: an exception becomes an error for that one connection (or a
// refused module, from create), with a log line.
//
//   class Echo : public gev::sdk::Handler {
//    public:
//     explicit Echo(const gev::sdk::Config&) {}
//     gev_status on_message(gev::sdk::Conn, const gev_frame& msg, gev_frame& reply) override {
//       reply.data = msg.data;
//       return GEV_OK;
//     }
//   };
//   GEV_HANDLER_MODULE(Echo, "echo", "1.0.0")
#ifndef GEV_SDK_CPP_MODULE_H
#define GEV_SDK_CPP_MODULE_H

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <initializer_list>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "../gev_module.h"

#ifndef GEV_MODULE_MIN_HOST_MINOR
#define GEV_MODULE_MIN_HOST_MINOR 0u
#endif

namespace gev::sdk {

// The host's table, set once by gev_module_entry. Each module .so has its own copy
// (modules build with hidden visibility).
inline const gev_host_api*& host_api() {
  static const gev_host_api* api = nullptr;
  return api;
}

inline std::string_view view(gev_bytes b) {
  return {reinterpret_cast<const char*>(b.ptr), b.len};
}
inline std::span<const uint8_t> span(gev_bytes b) {
  return {b.ptr, b.len};
}
inline gev_bytes bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline gev_bytes bytes(std::span<const uint8_t> s) {
  return {s.data(), s.size()};
}

inline void log(int32_t level, const char* module, std::string_view message) {
  const gev_host_api* h = host_api();
  if (h) h->log(h->host, level, module, bytes(message));
}

// Thread-safe send to a connection this module serves, by id (ABI 1.1; on an older
// host GEV_ERR_UNSUPPORTED). GEV_ERR_CLOSED if it is no longer open.
inline gev_status send_to(uint64_t conn_id, std::string_view data, uint32_t type = 0) {
  const gev_host_api* h = host_api();
  if (!h || h->size < offsetof(gev_host_api, send_to) + sizeof(h->send_to) || !h->send_to)
    return GEV_ERR_UNSUPPORTED;
  gev_frame f{sizeof(gev_frame), type, bytes(data), {nullptr, 0}};
  return h->send_to(h->host, conn_id, &f);
}

// What a TLS connection negotiated (Conn::tls()); the views live as long as the connection.
struct TlsInfo {
  std::string_view version, cipher, alpn, server_name;
  bool resumed = false;
  bool peer_verified = false;  // a client certificate was sent and verified (mutual TLS)
  std::string_view peer_subject, peer_san;
  uint8_t peer_sha256[32] = {};
  // The fingerprint as `openssl x509 -fingerprint -sha256` prints it ("AB:CD:...").
  std::string fingerprint() const {
    static const char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (uint8_t b : peer_sha256) {
      if (!out.empty()) out += ':';
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
    return out;
  }
};

// A connection, as seen from a callback. Valid until on_close returns.
class Conn {
 public:
  explicit Conn(gev_conn* c) : c_(c) {}
  gev_conn* get() const { return c_; }
  uint64_t id() const { return api()->conn_id(c_); }
  gev_loop* loop() const { return api()->conn_loop(c_); }
  std::string peer_address() const {
    char buf[64];
    api()->conn_peer_address(c_, buf, sizeof buf);
    return buf;
  }
  std::string local_address() const {
    char buf[64];
    api()->conn_local_address(c_, buf, sizeof buf);
    return buf;
  }
  // Over TLS (ABI 1.3 host): what the handshake negotiated; false on a plain connection
  // or an older host.
  bool tls(TlsInfo* out) const {
    const gev_host_api* h = api();
    if (!h || h->size < offsetof(gev_host_api, conn_tls) + sizeof(h->conn_tls) || !h->conn_tls)
      return false;
    gev_tls_info t{};
    t.size = sizeof t;
    if (h->conn_tls(c_, &t) != GEV_OK) return false;
    out->version = view(t.version);
    out->cipher = view(t.cipher);
    out->alpn = view(t.alpn);
    out->server_name = view(t.server_name);
    out->resumed = (t.flags & GEV_TLS_RESUMED) != 0;
    out->peer_verified = (t.flags & GEV_TLS_PEER_VERIFIED) != 0;
    out->peer_subject = view(t.peer_subject);
    out->peer_san = view(t.peer_san);
    for (size_t i = 0; i < sizeof t.peer_sha256; ++i) out->peer_sha256[i] = t.peer_sha256[i];
    return true;
  }
  void* context() const { return api()->conn_get_context(c_); }
  void set_context(void* p) { api()->conn_set_context(c_, p); }
  gev_status send(std::string_view data, uint32_t type = 0) {
    gev_frame f{sizeof(gev_frame), type, bytes(data), {nullptr, 0}};
    return api()->send(c_, &f);
  }
  gev_status send(const gev_frame& f) { return api()->send(c_, &f); }
  uint64_t input_size() const { return api()->conn_input_size(c_); }
  uint64_t output_size() const { return api()->conn_output_size(c_); }
  void close() { api()->conn_close(c_, 0); }
  void abort() { api()->conn_close(c_, 1); }
  // On a host of ABI 1.5 these answer (GEV_ERR_UNSUPPORTED on a datagram peer); on an
  // older one they return GEV_OK after the call.
  gev_status shutdown_write() { return stream_op(GEV_STREAM_SHUTDOWN_WRITE, api()->conn_shutdown_write); }
  gev_status pause_reading() { return stream_op(GEV_STREAM_PAUSE_READING, api()->conn_pause_reading); }
  gev_status resume_reading() { return stream_op(GEV_STREAM_RESUME_READING, api()->conn_resume_reading); }
  // ABI 1.5 (false on an older host): a UDP listener's peer.
  bool datagram() const { return has_1_5() && api()->conn_datagram && api()->conn_datagram(c_) != 0; }
  // ABI 1.4 (false / GEV_ERR_UNSUPPORTED on an older host): dialled by host->dial; flow
  // coupling with another connection on the same loop (see gev_host_api::conn_link).
  bool outbound() const { return has_1_4() && api()->conn_outbound(c_) != 0; }
  gev_status link(Conn other, uint64_t high = 0, uint64_t low = 0) {
    return has_1_4() ? api()->conn_link(c_, other.c_, high, low) : GEV_ERR_UNSUPPORTED;
  }
  void unlink() {
    if (has_1_4()) api()->conn_unlink(c_);
  }
  // The protocol module serving it ("raw", "websocket"); empty on an older host.
  std::string protocol() const {
    if (!has_1_4()) return {};
    char buf[64];
    api()->conn_protocol(c_, buf, sizeof buf);
    return buf;
  }
  static bool has_1_4() {
    const gev_host_api* h = api();
    return h && h->size >= offsetof(gev_host_api, conn_protocol) + sizeof(h->conn_protocol);
  }
  static bool has_1_5() {
    const gev_host_api* h = api();
    return h && h->size >= offsetof(gev_host_api, conn_stream_op) + sizeof(h->conn_stream_op);
  }

 private:
  gev_status stream_op(int32_t op, void (*old)(gev_conn*)) {
    if (has_1_5() && api()->conn_stream_op) return api()->conn_stream_op(c_, op);
    if (!old) return GEV_ERR_UNSUPPORTED;
    old(c_);
    return GEV_OK;
  }
  static const gev_host_api* api() { return host_api(); }
  gev_conn* c_;
};

// ABI 1.4: dials `address` on `loop` with this module as the connection's handler (its
// on_connect sees Conn::outbound(), and Conn::context() == context). protocol: a loaded
// protocol module's name; empty: like's protocol, or raw without like. See
// gev_host_api::dial. GEV_ERR_UNSUPPORTED on an older host.
inline gev_status dial(gev_loop* loop, std::string_view address, void* context = nullptr,
                       std::string_view protocol = {}, gev_conn* like = nullptr,
                       uint32_t timeout_ms = 0, uint64_t* dial_id = nullptr) {
  if (!Conn::has_1_4()) return GEV_ERR_UNSUPPORTED;
  gev_dial_options o{};
  o.size = sizeof o;
  o.timeout_ms = timeout_ms;
  o.address = bytes(address);
  o.protocol = bytes(protocol);
  o.like = like;
  o.context = context;
  const gev_host_api* h = host_api();
  return h->dial(h->host, loop, &o, dial_id);
}
inline void dial_cancel(uint64_t dial_id) {
  if (Conn::has_1_4()) host_api()->dial_cancel(host_api()->host, dial_id);
}

// Output of encode().
class Writer {
 public:
  explicit Writer(gev_writer* w) : w_(w) {}
  gev_status append(std::span<const uint8_t> b) { return host_api()->writer_append(w_, bytes(b)); }
  gev_status append(gev_bytes b) { return host_api()->writer_append(w_, b); }
  // n bytes to fill now (valid until the next writer call); nullptr if out of memory.
  uint8_t* reserve(uint64_t n) { return host_api()->writer_reserve(w_, n); }

 private:
  gev_writer* w_;
};

// The module's --module-opt NAME.KEY=VALUE settings, copied at create. The getters
// throw std::invalid_argument naming NAME.KEY on a malformed value; thrown from the
// module's constructor, that refuses the module with the message in the host's log.
class Config {
 public:
  Config() = default;
  explicit Config(const gev_config* c, const char* module = "") : module_(module) {
    for (uint32_t i = 0; c && i < c->count; ++i) values_[c->entries[i].key] = c->entries[i].value;
  }
  bool has(const std::string& key) const { return values_.count(key) != 0; }
  std::string get(const std::string& key, std::string fallback = {}) const {
    auto it = values_.find(key);
    return it == values_.end() ? fallback : it->second;
  }
  // A non-negative integer (digits only: "-1" is refused, not read as 2^64-1).
  uint64_t get_uint(const std::string& key, uint64_t fallback) const {
    auto it = values_.find(key);
    if (it == values_.end()) return fallback;
    const std::string& s = it->second;
    uint64_t v = 0;
    bool ok = !s.empty() && s.size() <= 20;
    for (char ch : s) {
      if (ch < '0' || ch > '9' || v > (UINT64_MAX - static_cast<uint64_t>(ch - '0')) / 10) {
        ok = false;
        break;
      }
      v = v * 10 + static_cast<uint64_t>(ch - '0');
    }
    if (!ok)
      throw std::invalid_argument(name(key) + " wants a non-negative integer, got '" + s + "'");
    return v;
  }
  // A string with the escapes \n \r \t \0 \\ as typed on a command line; the
  // fallback is returned as is.
  std::string get_escaped(const std::string& key, std::string fallback) const {
    auto it = values_.find(key);
    if (it == values_.end()) return fallback;
    const std::string& s = it->second;
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '\\') {
        out += s[i];
        continue;
      }
      char e = i + 1 < s.size() ? s[++i] : '?';
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case '0':
          out += '\0';
          break;
        case '\\':
          out += '\\';
          break;
        default:
          throw std::invalid_argument(name(key) + ": unknown escape in '" + s +
                                      "' (known: \\n \\r \\t \\0 \\\\)");
      }
    }
    return out;
  }
  // Refuses keys the module does not know (a typo would otherwise be silently ignored).
  void allow_only(std::initializer_list<std::string_view> known) const {
    for (const auto& [key, value] : values_) {
      bool ok = false;
      for (std::string_view k : known) ok = ok || key == k;
      if (ok) continue;
      std::string list;
      for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      throw std::invalid_argument("unknown option " + name(key) + " (known: " + list + ")");
    }
  }
  // "NAME.KEY", for messages.
  std::string name(const std::string& key) const { return std::string(module_) + "." + key; }
  const std::map<std::string, std::string>& all() const { return values_; }

 private:
  const char* module_ = "";
  std::map<std::string, std::string> values_;
};

// Base for protocol modules. decode() fills `out` (status, consumed, frame, error).
class Protocol {
 public:
  virtual ~Protocol() = default;
  virtual void* conn_open(Conn) { return nullptr; }
  virtual void conn_close(Conn, void* /*conn_state*/) {}
  virtual void decode(Conn c, void* conn_state, gev_bytes in, gev_decode_result& out) = 0;
  virtual gev_status encode(Conn c, void* conn_state, const gev_frame& msg, Writer& w) = 0;
  // Called after the handler's on_message (ABI 1.1) only in classes that declare
  // `static constexpr bool kAfterMessage = true;` (the host skips the call otherwise).
  static constexpr bool kAfterMessage = false;
  // ABI 1.3: the ALPN ids the protocol speaks over TLS, comma-separated, preferred first
  // (gev_protocol_vtable::alpn); declare `static constexpr const char* kAlpn = "...";`.
  static constexpr const char* kAlpn = nullptr;
  virtual void after_message(Conn, void* /*conn_state*/, const gev_frame& /*msg*/,
                             gev_frame& /*reply*/, gev_status /*handler_status*/) {}
  // ABI 1.2: the server is stopping; GEV_OK if the protocol closes the connection itself
  // after its goodbye (see gev_protocol_vtable::conn_stopping).
  virtual gev_status conn_stopping(Conn, void* /*conn_state*/) { return GEV_ERR_UNSUPPORTED; }
  virtual gev_status loop_init(gev_loop*) { return GEV_OK; }
  virtual void loop_fini(gev_loop*) {}
};

// Base for handler modules.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual gev_status on_connect(Conn) { return GEV_OK; }
  virtual gev_status on_message(Conn c, const gev_frame& msg, gev_frame& reply) = 0;
  virtual void on_close(Conn) {}
  virtual gev_status loop_init(gev_loop*) { return GEV_OK; }
  virtual void loop_fini(gev_loop*) {}
  // ABI 1.2: the server is stopping; a last message of the handler's own (Conn::send).
  virtual void on_stopping(Conn) {}
  // ABI 1.2, live migration (see gev_handler_vtable): a class that declares
  // `static constexpr bool kAdopts = true;` takes over the open connections of an older
  // instance of itself at a reload. conn_export writes what the new instance needs to
  // know of a connection and forgets it; conn_import takes it over (instead of
  // on_connect). state_export/state_import hand over module-wide state once per reload.
  static constexpr bool kAdopts = false;
  virtual gev_status conn_export(Conn, Writer&) { return GEV_OK; }
  virtual gev_status conn_import(Conn, gev_bytes /*state*/) { return GEV_OK; }
  virtual gev_status state_export(Writer&) { return GEV_OK; }
  virtual gev_status state_import(gev_bytes /*state*/) { return GEV_OK; }
  // ABI 1.4: a dial of this module's did not connect (failure.context is its context).
  virtual void on_connect_failed(const gev_dial_failure& /*failure*/) {}
  // ABI 1.4: the peer ended its input; true keeps the connection open for writing (see
  // gev_handler_vtable::on_peer_eof).
  virtual bool on_peer_eof(Conn) { return false; }
};

namespace detail {

inline void report(const char* module, const char* where, const char* what) {
  char line[512];
  std::snprintf(line, sizeof line, "exception in %s: %s", where, what);
  log(GEV_LOG_WARN, module, line);
}

#define GEV_SDK_GUARD(module, where, on_error, ...)      \
  try {                                                  \
    __VA_ARGS__;                                         \
  } catch (const std::exception& e) {                    \
    ::gev::sdk::detail::report(module, where, e.what()); \
    on_error;                                            \
  } catch (...) {                                        \
    ::gev::sdk::detail::report(module, where, "?");      \
    on_error;                                            \
  }

template <class T, const char* const* Name>
struct Trampolines {
  static gev_status create(const gev_host_api*, const gev_config* config, void** out) noexcept {
    GEV_SDK_GUARD(*Name, "create", return GEV_ERR_MODULE, *out = new T(Config(config, *Name)));
    return GEV_OK;
  }
  static void destroy(void* state) noexcept {
    GEV_SDK_GUARD(*Name, "destroy", (void)0, delete static_cast<T*>(state));
  }
  static gev_status loop_init(void* state, gev_loop* loop) noexcept {
    GEV_SDK_GUARD(*Name, "loop_init", return GEV_ERR_MODULE,
                  return static_cast<T*>(state)->loop_init(loop));
  }
  static void loop_fini(void* state, gev_loop* loop) noexcept {
    GEV_SDK_GUARD(*Name, "loop_fini", (void)0, static_cast<T*>(state)->loop_fini(loop));
  }
  // Protocol
  static void* conn_open(void* state, gev_conn* c) noexcept {
    GEV_SDK_GUARD(*Name, "conn_open", return nullptr,
                  return static_cast<T*>(state)->conn_open(Conn(c)));
  }
  static void conn_close(void* state, gev_conn* c, void* cs) noexcept {
    GEV_SDK_GUARD(*Name, "conn_close", (void)0, static_cast<T*>(state)->conn_close(Conn(c), cs));
  }
  static void decode(void* state, gev_conn* c, void* cs, gev_bytes in,
                     gev_decode_result* out) noexcept {
    GEV_SDK_GUARD(*Name, "decode",
                  (out->status = GEV_DECODE_ERROR, out->error = "exception in decode"),
                  static_cast<T*>(state)->decode(Conn(c), cs, in, *out));
  }
  static gev_status encode(void* state, gev_conn* c, void* cs, const gev_frame* msg,
                           gev_writer* w) noexcept {
    GEV_SDK_GUARD(*Name, "encode", return GEV_ERR_MODULE, Writer writer(w);
                  return static_cast<T*>(state)->encode(Conn(c), cs, *msg, writer));
  }
  static void after_message(void* state, gev_conn* c, void* cs, const gev_frame* msg,
                            gev_frame* reply, gev_status st) noexcept {
    GEV_SDK_GUARD(*Name, "after_message", Conn(c).abort(),
                  static_cast<T*>(state)->after_message(Conn(c), cs, *msg, *reply, st));
  }
  static gev_status conn_stopping(void* state, gev_conn* c, void* cs) noexcept {
    GEV_SDK_GUARD(*Name, "conn_stopping", return GEV_ERR_MODULE,
                  return static_cast<T*>(state)->conn_stopping(Conn(c), cs));
  }
  // Handler
  static gev_status on_connect(void* state, gev_conn* c) noexcept {
    GEV_SDK_GUARD(*Name, "on_connect", return GEV_ERR_MODULE,
                  return static_cast<T*>(state)->on_connect(Conn(c)));
  }
  static gev_status on_message(void* state, gev_conn* c, const gev_frame* msg,
                               gev_frame* reply) noexcept {
    GEV_SDK_GUARD(*Name, "on_message", return GEV_ERR_MODULE,
                  return static_cast<T*>(state)->on_message(Conn(c), *msg, *reply));
  }
  static void on_close(void* state, gev_conn* c) noexcept {
    GEV_SDK_GUARD(*Name, "on_close", (void)0, static_cast<T*>(state)->on_close(Conn(c)));
  }
  static void on_stopping(void* state, gev_conn* c) noexcept {
    GEV_SDK_GUARD(*Name, "on_stopping", (void)0, static_cast<T*>(state)->on_stopping(Conn(c)));
  }
  static gev_status conn_export(void* state, gev_conn* c, gev_writer* w) noexcept {
    GEV_SDK_GUARD(*Name, "conn_export", return GEV_ERR_MODULE, Writer writer(w);
                  return static_cast<T*>(state)->conn_export(Conn(c), writer));
  }
  static gev_status conn_import(void* state, gev_conn* c, gev_bytes b) noexcept {
    GEV_SDK_GUARD(*Name, "conn_import", return GEV_ERR_MODULE,
                  return static_cast<T*>(state)->conn_import(Conn(c), b));
  }
  static gev_status state_export(void* state, gev_writer* w) noexcept {
    GEV_SDK_GUARD(*Name, "state_export", return GEV_ERR_MODULE, Writer writer(w);
                  return static_cast<T*>(state)->state_export(writer));
  }
  static gev_status state_import(void* state, gev_bytes b) noexcept {
    GEV_SDK_GUARD(*Name, "state_import", return GEV_ERR_MODULE,
                  return static_cast<T*>(state)->state_import(b));
  }
  static void on_connect_failed(void* state, const gev_dial_failure* f) noexcept {
    GEV_SDK_GUARD(*Name, "on_connect_failed", (void)0,
                  static_cast<T*>(state)->on_connect_failed(*f));
  }
  static int32_t on_peer_eof(void* state, gev_conn* c) noexcept {
    GEV_SDK_GUARD(*Name, "on_peer_eof", return 0,
                  return static_cast<T*>(state)->on_peer_eof(Conn(c)) ? 1 : 0);
  }
};

template <class T, const char* const* Name>
struct ProtocolTable {
  using Tr = Trampolines<T, Name>;
  static constexpr gev_protocol_vtable table = {sizeof(gev_protocol_vtable),
                                                0,
                                                &Tr::conn_open,
                                                &Tr::conn_close,
                                                &Tr::decode,
                                                &Tr::encode,
                                                T::kAfterMessage ? &Tr::after_message : nullptr,
                                                &Tr::conn_stopping,
                                                T::kAlpn};
};

template <class T, const char* const* Name>
struct HandlerTable {
  using Tr = Trampolines<T, Name>;
  static constexpr gev_handler_vtable table = {sizeof(gev_handler_vtable),
                                               0,
                                               &Tr::on_connect,
                                               &Tr::on_message,
                                               &Tr::on_close,
                                               &Tr::on_stopping,
                                               T::kAdopts ? GEV_HANDLER_ADOPTS : 0u,
                                               0,
                                               &Tr::conn_export,
                                               &Tr::conn_import,
                                               &Tr::state_export,
                                               &Tr::state_import,
                                               &Tr::on_connect_failed,
                                               &Tr::on_peer_eof};
};

// Rejects hosts of another major version, or older than the minor the module needs
// (GEV_MODULE_MIN_HOST_MINOR, default 0: any host of this major).
// T::kProtocolFlags (GEV_PROTOCOL_DATAGRAMS: a protocol that serves UDP listeners), or 0.
template <class T>
constexpr uint32_t protocol_flags() {
  if constexpr (requires { T::kProtocolFlags; })
    return T::kProtocolFlags;
  else
    return 0;
}

inline bool host_fits(const gev_host_api* host, uint32_t major, uint32_t minor, const char* name,
                      uint32_t min_minor) {
  if (major != GEV_ABI_MAJOR || minor < min_minor || !host) {
    if (host && host->log) {
      char line[160];
      std::snprintf(line, sizeof line, "needs host ABI %u.>=%u, host has %u.%u", GEV_ABI_MAJOR,
                    min_minor, major, minor);
      host->log(host->host, GEV_LOG_ERROR, name, bytes(std::string_view(line)));
    }
    return false;
  }
  host_api() = host;
  return true;
}

}  // namespace detail
}  // namespace gev::sdk

// Defines gev_module_entry for class T.
#define GEV_SDK_MODULE_(T, NAME, VERSION, KIND, PROTOCOL_TABLE, HANDLER_TABLE)               \
  namespace {                                                                                \
  const char* const gev_sdk_module_name = NAME;                                              \
  using gev_sdk_tramp = ::gev::sdk::detail::Trampolines<T, &gev_sdk_module_name>;            \
  }                                                                                          \
  extern "C" GEV_EXPORT const gev_module_descriptor* gev_module_entry(                       \
      const gev_host_api* host, uint32_t major, uint32_t minor) {                            \
    static const gev_module_descriptor descriptor = {sizeof(gev_module_descriptor),          \
                                                     GEV_ABI_MAJOR,                          \
                                                     GEV_ABI_MINOR,                          \
                                                     KIND,                                   \
                                                     NAME,                                   \
                                                     VERSION,                                \
                                                     gev_sdk_tramp::create,                  \
                                                     gev_sdk_tramp::destroy,                 \
                                                     gev_sdk_tramp::loop_init,               \
                                                     gev_sdk_tramp::loop_fini,               \
                                                     PROTOCOL_TABLE,                         \
                                                     HANDLER_TABLE,                          \
                                                     ::gev::sdk::detail::protocol_flags<T>(), \
                                                     0};                                     \
    if (!::gev::sdk::detail::host_fits(host, major, minor, NAME, GEV_MODULE_MIN_HOST_MINOR)) \
      return nullptr;                                                                        \
    return &descriptor;                                                                      \
  }

// A protocol module: T derives from gev::sdk::Protocol and has a T(const Config&).
#define GEV_PROTOCOL_MODULE(T, NAME, VERSION)            \
  GEV_SDK_MODULE_(T, NAME, VERSION, GEV_MODULE_PROTOCOL, \
                  &(::gev::sdk::detail::ProtocolTable<T, &gev_sdk_module_name>::table), nullptr)
// A handler module: T derives from gev::sdk::Handler and has a T(const Config&).
#define GEV_HANDLER_MODULE(T, NAME, VERSION)                     \
  GEV_SDK_MODULE_(T, NAME, VERSION, GEV_MODULE_HANDLER, nullptr, \
                  &(::gev::sdk::detail::HandlerTable<T, &gev_sdk_module_name>::table))

#endif  // GEV_SDK_CPP_MODULE_H
