// Transport: what may sit between a connection's socket and its protocol (TLS does;
// docs/transport.md). Without one, the bytes read are the bytes decoded and the bytes
// encoded are the bytes sent. With one, the connection reads the socket into its loop's
// wire buffer and hands those bytes to input(), which writes plaintext into the loop's
// read buffer, where the protocol decodes in place as usual; the replies of one read go
// to output() in pieces of up to a record, and what the transport then has to send
// (records, and its own handshake, alerts and close_notify) is sent from
// pending_output() in one write, or queued behind what the socket has not taken yet. A transport never
// touches the socket. Every call is on the connection's loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <array>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace gev {

// What a secure transport negotiated (Connection::tls()); filled once, when the
// handshake finishes, and valid as long as the connection.
struct TlsInfo {
  std::string_view version;      // "TLSv1.3"
  std::string_view cipher;       // "TLS_AES_256_GCM_SHA384"
  std::string alpn;              // the protocol chosen by ALPN; empty: none
  std::string server_name;       // SNI the client sent; empty: none
  bool resumed = false;          // an abbreviated handshake (session ticket or cache)
  // The client's certificate (mutual TLS): present only if one was sent and verified.
  bool peer_verified = false;
  std::string peer_subject;                // RFC 2253: "CN=alice,O=Example"
  std::string peer_san;                    // "DNS:a.test, IP:127.0.0.1" (may be empty)
  std::array<uint8_t, 32> peer_sha256{};   // SHA-256 of the certificate's DER form
};

class Transport {
 public:
  virtual ~Transport() = default;

  struct Input {
    size_t plain = 0;             // plaintext bytes written into `plain`
    bool more = false;            // plaintext is still waiting: call again (no wire bytes)
    bool end = false;             // the peer ended its stream cleanly (TLS close_notify)
    const char* error = nullptr;  // the stream is broken (why); output may hold an alert
  };
  // `wire`: bytes just read from the socket (may be empty when `more` was set).
  virtual Input input(std::span<const uint8_t> wire, std::span<uint8_t> plain) = 0;
  // Plaintext to send. False (with why()) if the stream can no longer carry it.
  virtual bool output(std::span<const uint8_t> plain) = 0;
  // Ends our side cleanly (TLS close_notify), once; the bytes come out of pending_output.
  virtual void end_output() = 0;
  // Bytes to write to the socket (records, alerts, close_notify): a view valid until
  // the next call; empty when there are none. The connection sends from it in place
  // and then consumes what it sent or queued.
  virtual std::span<const uint8_t> pending_output() const = 0;
  virtual void consume_output(size_t n) = 0;
  // The socket read end of file: true if the peer had ended its stream first (a FIN
  // without that is a truncation, counted as a transport error).
  virtual bool clean_end() const = 0;
  // Why the last call failed.
  virtual const char* why() const = 0;
  // The handshake, if the transport has one, is done (Options::handshake_timeout).
  // The connection's on_connect waits for it.
  virtual bool established() const = 0;
  // The connection gives up on the handshake (Options::handshake_timeout): for counting.
  virtual void timed_out() {}
  // What was negotiated, once established(); null for a transport without such facts.
  virtual const TlsInfo* tls() const { return nullptr; }
};

// Makes each accepted connection's transport (Options::transport). Called on the
// connection's loop; must be thread-safe across loops.
class TransportFactory {
 public:
  virtual ~TransportFactory() = default;
  virtual std::unique_ptr<Transport> make() = 0;
};

}  // namespace gev
