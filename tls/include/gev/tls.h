// TLS for gev listeners: a Transport (gev/transport.h) on OpenSSL, over memory BIOs (it
// never touches the socket). A library of its own, gev::tls, so that the core needs no
// OpenSSL. See docs/transport.md.
#pragma once

#include <gev/tls_settings.h>
#include <gev/transport.h>

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gev::tls {

using Settings = gev::TlsSettings;  // gev/tls_settings.h

// Handshake counters of one listener, shared by its transports (and kept across the
// factories a reload makes). Written at handshake ends only, never per record.
class Metrics {
 public:
  enum Result : size_t {
    kOk,
    kVersion,      // no protocol version in common (a TLS 1.0/1.1-only client)
    kNoCipher,     // no cipher suite, group or signature algorithm in common
    kCertificate,  // a client certificate missing or not verified, or ours refused
    kTimeout,      // not finished within the handshake timeout
    kNotTls,       // the first bytes were not a TLS record (plain HTTP, garbage)
    kAborted,      // the peer closed or reset before finishing
    kOther,
    kResults
  };
  static const char* name(Result r);
  // Upper bounds, in seconds, of the handshake-time histogram's buckets (then +Inf).
  static constexpr std::array<double, 12> kBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                   0.05,   0.1,   0.25,   0.5,   1,     5};
  struct Snapshot {
    std::array<uint64_t, kResults> handshakes{};
    uint64_t resumed = 0;
    std::array<uint64_t, kBuckets.size() + 1> time_buckets{};  // not cumulative
    double time_sum = 0;                                       // seconds, ok handshakes
    std::map<std::pair<std::string, std::string>, uint64_t> sessions;  // version, cipher
  };
  void count(Result r) { handshakes_[r].fetch_add(1, std::memory_order_relaxed); }
  void established(double seconds, bool resumed, std::string_view version,
                   std::string_view cipher);
  Snapshot snapshot() const;

 private:
  std::array<std::atomic<uint64_t>, kResults> handshakes_{};
  std::atomic<uint64_t> resumed_{0};
  std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets_{};
  mutable std::mutex mu_;  // the rest: a handshake takes far longer than this lock
  double time_sum_ = 0;
  std::map<std::pair<std::string, std::string>, uint64_t> sessions_;
};

// Session-ticket keys of one listener, rotated: tickets are sealed with the newest key
// (AES-256-CBC + HMAC-SHA256, RFC 5077's layout), opened with it or the one before, so a
// ticket lives between one and two rotation periods. Kept across the factories a reload
// makes, so a certificate swap does not void every ticket.
class TicketKeys {
 public:
  struct Key {
    unsigned char name[16], aes[32], hmac[32];
    std::chrono::steady_clock::time_point made;
  };
  explicit TicketKeys(std::chrono::seconds rotation = std::chrono::hours(1)) : rotation_(rotation) {}
  std::chrono::seconds rotation() const { return rotation_; }
  void set_rotation(std::chrono::seconds r);
  // The key to seal a new ticket with (rotating first if it is due); false if the
  // random generator failed.
  bool current(Key* out);
  // The key named `name`, if still accepted; *renew: it is the older one (reissue).
  bool find(const unsigned char* name, Key* out, bool* renew);

 private:
  bool rotate_locked(std::chrono::steady_clock::time_point now);
  std::mutex mu_;
  std::chrono::seconds rotation_;
  std::vector<Key> keys_;  // newest first, at most two
};

// What a listener's TLS keeps across the factories a reload makes.
struct Context {
  Metrics metrics;
  TicketKeys tickets;
  // A factory was made with it: the listener has served TLS at some point (a plain
  // listener's context, kept for a reload that may turn TLS on, shows no TLS series).
  std::atomic<bool> used{false};
};

// Loads and checks the settings once (the files, the key against the certificate, the
// certificate's dates); every connection's transport then shares them. Null, with
// *error naming the file and the reason, if anything is wrong.
// `context`, if given, counts every handshake its transports make and holds the
// session-ticket keys (else the factory has its own).
std::shared_ptr<TransportFactory> server(const Settings& settings, std::string* error,
                                         std::shared_ptr<Context> context = nullptr);

// Whether this kernel offers TLS offload (the "tls" TCP upper-layer protocol); false
// with *why saying what is missing.
bool kernel_tls_available(std::string* why);

namespace detail {
inline std::shared_ptr<TransportFactory> make_for_options(const Settings& s, std::string* error) {
  return server(s, error);
}
// Including this header hands Options::tls to this library (gev/tls_settings.h).
inline const bool registered = (gev::detail::set_tls_maker(&make_for_options), true);
}  // namespace detail

}  // namespace gev::tls
