// TLS for gev listeners: a Transport (gev/transport.h) on OpenSSL, over memory BIOs (it
// never touches the socket). A library of its own, gev::tls, so that the core needs no
// OpenSSL. See docs/transport.md.
#pragma once

#include <gev/transport.h>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gev::tls {

struct Settings {
  std::string cert_file;   // PEM: the certificate, optionally followed by its chain
  std::string key_file;    // PEM: its private key; refused if group- or world-readable
  std::string chain_file;  // PEM: more chain certificates (optional)
  std::string min_version = "1.2";  // "1.2" or "1.3"
  std::string ciphers;              // TLS 1.2 list, OpenSSL syntax (empty: OpenSSL's defaults)
  std::string ciphersuites;         // TLS 1.3 list (empty: OpenSSL's defaults)
  std::vector<std::string> alpn;    // protocols spoken, preferred first (empty: no ALPN)
  // More certificate/key pairs, chosen by SNI: a ClientHello naming a host that one of
  // them covers (its SANs, or CN without SANs) gets it; any other gets the first above.
  std::vector<std::pair<std::string, std::string>> more_certificates;
  // Mutual TLS: client certificates are verified against these CAs (PEM), "required"
  // (a client without one is refused) or "optional".
  std::string client_ca_file;
  std::string client_verify = "required";
};

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

// Loads and checks the settings once (the files, the key against the certificate, the
// certificate's dates); every connection's transport then shares them. Null, with
// *error naming the file and the reason, if anything is wrong.
// `metrics`, if given, counts every handshake its transports make.
std::shared_ptr<TransportFactory> server(const Settings& settings, std::string* error,
                                         std::shared_ptr<Metrics> metrics = nullptr);

}  // namespace gev::tls
