// gev::tls: one SSL_CTX per listener (loaded and checked once), one SSL per connection
// over a BIO of our own (Wire): ciphertext read straight from the connection's wire
// buffer, records written into a buffer the connection sends from. OpenSSL's defaults for ciphers, no compression, no renegotiation.
#include "gev/tls.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace gev::tls {

namespace {

// The reason of the last OpenSSL error on this thread ("" if none), and the queue cleared.
std::string openssl_reason() {
  unsigned long e = ERR_peek_last_error();
  std::string out;
  if (e != 0) {
    const char* reason = ERR_reason_error_string(e);
    out = reason ? reason : "error " + std::to_string(ERR_GET_REASON(e));
  }
  ERR_clear_error();
  return out;
}

struct CtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxDeleter>;

// Which Metrics::Result an OpenSSL error reason is (the failed handshake's last error).
Metrics::Result classify(unsigned long err) {
  if (ERR_GET_LIB(err) != ERR_LIB_SSL) return Metrics::kOther;
  switch (ERR_GET_REASON(err)) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_WRONG_SSL_VERSION:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return Metrics::kVersion;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
    case SSL_R_NO_CIPHERS_AVAILABLE:
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
      return Metrics::kNoCipher;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return Metrics::kCertificate;
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_RECORD_LENGTH_MISMATCH:
      return Metrics::kNotTls;
    default:
      return Metrics::kOther;
  }
}

// The facts of a finished handshake (and the client's certificate, if verified).
void describe(SSL* ssl, TlsInfo& info) {
  info.version = SSL_get_version(ssl);  // static strings, as is the cipher's name
  info.cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn) info.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) info.server_name = sni;
  info.resumed = SSL_session_reused(ssl) == 1;
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (!peer || SSL_get_verify_result(ssl) != X509_V_OK) return;
  info.peer_verified = true;
  if (BIO* b = BIO_new(BIO_s_mem())) {
    X509_NAME_print_ex(b, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253);
    char* p = nullptr;
    long n = BIO_get_mem_data(b, &p);
    info.peer_subject.assign(p, static_cast<size_t>(n));
    BIO_free(b);
  }
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(peer, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    std::string one;
    if (g->type == GEN_DNS || g->type == GEN_EMAIL || g->type == GEN_URI) {
      const ASN1_IA5STRING* v = g->d.ia5;
      one = (g->type == GEN_DNS ? "DNS:" : g->type == GEN_EMAIL ? "email:" : "URI:") +
            std::string(reinterpret_cast<const char*>(v->data), static_cast<size_t>(v->length));
    } else if (g->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* v = g->d.ip;
      char text[64] = "";
      if (v->length == 4) {
        std::snprintf(text, sizeof text, "%u.%u.%u.%u", v->data[0], v->data[1], v->data[2],
                      v->data[3]);
      } else if (v->length == 16) {
        for (int k = 0; k < 16; k += 2)
          std::snprintf(text + std::strlen(text), sizeof text - std::strlen(text), "%s%x",
                        k ? ":" : "", (v->data[k] << 8) | v->data[k + 1]);
      }
      one = std::string("IP:") + text;
    }
    if (one.empty()) continue;
    if (!info.peer_san.empty()) info.peer_san += ", ";
    info.peer_san += one;
  }
  GENERAL_NAMES_free(names);
  unsigned md_len = 0;
  X509_digest(peer, EVP_sha256(), info.peer_sha256.data(), &md_len);
}

// The wire side of one session, as the BIO both directions go through: OpenSSL reads
// ciphertext straight from the bytes the connection just read (no copy into a memory
// BIO; only a remainder it has not read yet is kept, when input() returns early), and
// writes its records into `out`, which the connection sends from in place.
struct Wire {
  const uint8_t* in = nullptr;  // unread input: the caller's span during input(), or `held`
  size_t in_len = 0;
  std::vector<uint8_t> held;    // input left over from an earlier input()
  std::vector<uint8_t> out;     // records not yet sent
  size_t out_off = 0;

  // Between input() calls nothing may point into the caller's buffer.
  void keep_rest() {
    if (in_len == 0) {
      if (!held.empty()) std::vector<uint8_t>().swap(held);
      in = nullptr;
      return;
    }
    if (!held.empty() && in >= held.data() && in < held.data() + held.size()) {
      held.erase(held.begin(), held.begin() + (in - held.data()));
    } else {
      held.assign(in, in + in_len);
    }
    in = held.data();
  }
  void feed(std::span<const uint8_t> wire) {
    if (wire.empty()) return;
    if (in_len == 0) {
      in = wire.data();
      in_len = wire.size();
      return;
    }
    keep_rest();  // a remainder is waiting: the new bytes go behind it
    held.insert(held.end(), wire.begin(), wire.end());
    in = held.data();
    in_len = held.size();
  }
};

int wire_write(BIO* b, const char* data, size_t n, size_t* written) {
  auto* w = static_cast<Wire*>(BIO_get_data(b));
  w->out.insert(w->out.end(), data, data + n);
  *written = n;
  return 1;
}
int wire_read(BIO* b, char* data, size_t n, size_t* got) {
  auto* w = static_cast<Wire*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (w->in_len == 0) {
    BIO_set_retry_read(b);  // nothing yet: wait for more, not end of file
    return 0;
  }
  size_t take = std::min(n, w->in_len);
  std::memcpy(data, w->in, take);
  w->in += take;
  w->in_len -= take;
  *got = take;
  return 1;
}
long wire_ctrl(BIO* b, int cmd, long, void*) {
  auto* w = static_cast<Wire*>(BIO_get_data(b));
  switch (cmd) {
    case BIO_CTRL_PENDING: return static_cast<long>(w->in_len);
    case BIO_CTRL_WPENDING: return static_cast<long>(w->out.size() - w->out_off);
    case BIO_CTRL_FLUSH: return 1;
    default: return 0;
  }
}
int wire_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

BIO_METHOD* wire_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gev wire");
    BIO_meth_set_write_ex(m, wire_write);
    BIO_meth_set_read_ex(m, wire_read);
    BIO_meth_set_ctrl(m, wire_ctrl);
    BIO_meth_set_create(m, wire_create);
    return m;
  }();
  return method;
}

class TlsTransport final : public Transport {
 public:
  TlsTransport(SSL_CTX* ctx, std::shared_ptr<Context> context)
      : ssl_(SSL_new(ctx)), context_(std::move(context)), started_(Clock::now()) {
    BIO* bio = BIO_new(wire_method());
    BIO_set_data(bio, &wire_);
    SSL_set_bio(ssl_, bio, bio);  // one BIO both ways; the SSL owns it
    SSL_set_accept_state(ssl_);
  }
  ~TlsTransport() override {
    if (!counted_) count(Metrics::kAborted);  // the peer left (or we stopped) first
    // A session that ended without close_notify both ways (a reset, a FIN alone, our
    // abort) but without a TLS error stays resumable, as nginx keeps it: only a fatal
    // alert or a broken record drops it from the cache (OpenSSL would drop any).
    if (!failed_ && SSL_is_init_finished(ssl_))
      SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl_);
  }

  Input input(std::span<const uint8_t> wire, std::span<uint8_t> plain) override {
    wire_.feed(wire);
    Input r = decrypt(plain);
    wire_.keep_rest();  // `wire` is the caller's: nothing may point into it after this
    return r;
  }

  std::span<const uint8_t> pending_output() const override {
    return {wire_.out.data() + wire_.out_off, wire_.out.size() - wire_.out_off};
  }
  void consume_output(size_t n) override {
    wire_.out_off += n;
    if (wire_.out_off < wire_.out.size()) return;
    wire_.out_off = 0;
    std::vector<uint8_t>().swap(wire_.out);  // sent: an idle session holds no buffer
  }

 private:
  Input decrypt(std::span<uint8_t> plain) {
    Input r;
    if (failed_) return r;
    ERR_clear_error();
    if (!SSL_is_init_finished(ssl_)) {
      int rc = SSL_do_handshake(ssl_);
      if (rc != 1) {
        int e = SSL_get_error(ssl_, rc);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return r;
        count(classify(ERR_peek_last_error()));
        return fail(r, "TLS handshake failed");
      }
      on_established();
      if (!flush_early_output()) return fail(r, "TLS write failed");
    }
    size_t got = 0;
    while (got < plain.size()) {
      size_t n = 0;
      int rc = SSL_read_ex(ssl_, plain.data() + got, plain.size() - got, &n);
      if (rc == 1) {
        got += n;
        continue;
      }
      int e = SSL_get_error(ssl_, rc);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
      if (e == SSL_ERROR_ZERO_RETURN) {  // close_notify: the end of its stream
        peer_ended_ = true;
        r.end = true;
        break;
      }
      r.plain = got;
      return fail(r, "TLS record failed");
    }
    r.plain = got;
    r.more = got == plain.size() && (SSL_pending(ssl_) > 0 || wire_.in_len > 0);
    return r;
  }

 public:

  bool output(std::span<const uint8_t> plain) override {
    if (failed_ || ended_) {
      why_ = ended_ ? "TLS: output after close_notify" : why_;
      return false;
    }
    if (plain.empty()) return true;
    if (!SSL_is_init_finished(ssl_)) {  // before the handshake (on_connect): held until it ends
      early_.append(reinterpret_cast<const char*>(plain.data()), plain.size());
      return true;
    }
    return write(plain);
  }

  void end_output() override {
    if (ended_ || failed_) return;
    ended_ = true;
    if (!SSL_is_init_finished(ssl_)) return;  // nothing was said: nothing to end
    ERR_clear_error();
    SSL_shutdown(ssl_);  // queues close_notify in the write BIO
    ERR_clear_error();
  }

  bool clean_end() const override { return peer_ended_; }
  bool established() const override { return SSL_is_init_finished(ssl_) == 1; }
  const char* why() const override { return why_.c_str(); }
  void timed_out() override { count(Metrics::kTimeout); }
  const TlsInfo* tls() const override { return established() ? &info_ : nullptr; }

 private:
  using Clock = std::chrono::steady_clock;

  void count(Metrics::Result r) {
    if (counted_) return;
    counted_ = true;
    context_->metrics.count(r);
  }

  void on_established() {
    describe(ssl_, info_);
    if (counted_) return;
    count(Metrics::kOk);
    context_->metrics.established(std::chrono::duration<double>(Clock::now() - started_).count(),
                            info_.resumed, info_.version, info_.cipher);
  }

  bool write(std::span<const uint8_t> plain) {
    ERR_clear_error();
    size_t n = 0;
    // A memory BIO takes everything: one call, records of up to 16 KiB.
    if (SSL_write_ex(ssl_, plain.data(), plain.size(), &n) == 1 && n == plain.size()) return true;
    failed_ = true;
    why_ = "TLS write failed: " + openssl_reason();
    return false;
  }

  bool flush_early_output() {
    if (early_.empty()) return true;
    std::string held = std::move(early_);
    early_.clear();
    return write({reinterpret_cast<const uint8_t*>(held.data()), held.size()});
  }

  Input& fail(Input& r, const char* what) {
    failed_ = true;
    std::string reason = openssl_reason();
    why_ = reason.empty() ? what : std::string(what) + ": " + reason;
    r.error = why_.c_str();
    return r;
  }

  SSL* ssl_;
  Wire wire_;
  bool failed_ = false;      // a fatal error: no close_notify, nothing more to say
  bool ended_ = false;       // our close_notify is queued (or was never needed)
  bool peer_ended_ = false;  // the peer's close_notify arrived
  bool counted_ = false;     // the handshake's result is in the metrics
  // The listener's counters and ticket keys: a handshake under way may outlive the
  // factory (a reload replaced it), never this.
  std::shared_ptr<Context> context_;
  Clock::time_point started_;
  TlsInfo info_;
  std::string early_;        // plaintext sent before the handshake finished
  std::string why_;
};

class Factory final : public TransportFactory {
 public:
  Factory(CtxPtr ctx, std::shared_ptr<Context> context)
      : ctx_(std::move(ctx)), context_(std::move(context)) {}
  std::unique_ptr<Transport> make() override {
    return std::make_unique<TlsTransport>(ctx_.get(), context_);
  }

 private:
  CtxPtr ctx_;
  std::shared_ptr<Context> context_;
};

// ALPN: our first protocol that the client offers; none in common: no ALPN at all.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
  const auto* ours = static_cast<const std::vector<std::string>*>(arg);
  for (const std::string& want : *ours) {
    for (unsigned i = 0; i < inlen;) {
      unsigned len = in[i];
      if (i + 1 + len > inlen) break;
      if (std::string_view(reinterpret_cast<const char*>(in + i + 1), len) == want) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

int ex_index_tickets() {
  static int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Seals (enc 1) or opens (enc 0) a session ticket with the listener's rotated keys.
// Opening: 0 an unknown or expired key (a full handshake), 1 the current key, 2 the
// older one (accepted, and a new ticket issued).
int ticket_key(SSL* ssl, unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
               EVP_MAC_CTX* mac, int enc) {
  auto* keys = static_cast<TicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index_tickets()));
  if (!keys) return 0;
  TicketKeys::Key k;
  bool renew = false;
  if (enc) {
    if (!keys->current(&k) || RAND_bytes(iv, 16) != 1) return -1;
    std::memcpy(name, k.name, sizeof k.name);
  } else if (!keys->find(name, &k, &renew)) {
    return 0;
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof k.hmac),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
  int ok = enc ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes, iv)
               : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes, iv);
  if (ok != 1) return -1;
  return renew ? 2 : 1;
}

bool key_file_private(const std::string& file, std::string* error) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    *error = file + ": " + std::strerror(errno);
    return false;
  }
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    *error = file + ": the private key is readable by others (mode " + mode +
             "); chmod 600 it";
    return false;
  }
  return true;
}

// One certificate's context with the listener's settings. Null, with *error, on failure.
// The session id context of a listener's settings: SHA-256 of its client verification
// mode and the bytes of its client CA file (32 bytes, OpenSSL's maximum).
bool session_context(const Settings& s, unsigned char (&out)[SSL_MAX_SID_CTX_LENGTH],
                     std::string* error) {
  static_assert(SSL_MAX_SID_CTX_LENGTH == 32);
  std::string material = "gev session context 1\n";
  if (!s.client_ca_file.empty()) {
    material += s.client_verify + "\n";
    FILE* f = std::fopen(s.client_ca_file.c_str(), "rb");
    if (!f) {
      *error = s.client_ca_file + ": " + std::strerror(errno);
      return false;
    }
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) material.append(buf, n);
    std::fclose(f);
  }
  unsigned int len = 0;
  if (EVP_Digest(material.data(), material.size(), out, &len, EVP_sha256(), nullptr) != 1 ||
      len != SSL_MAX_SID_CTX_LENGTH) {
    *error = "session id context: " + openssl_reason();
    return false;
  }
  return true;
}

CtxPtr make_ctx(const Settings& s, const std::string& cert_file, const std::string& key_file,
                TicketKeys* tickets, std::string* error) {
  ERR_clear_error();
  CtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    *error = "TLS: cannot make a context: " + openssl_reason();
    return nullptr;
  }
  int min = s.min_version == "1.2" ? TLS1_2_VERSION : s.min_version == "1.3" ? TLS1_3_VERSION : 0;
  if (min == 0) {
    *error = "tls-min-version: '" + s.min_version + "' is not 1.2 or 1.3";
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), min);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (cert_file.empty() || key_file.empty()) {
    *error = "TLS needs both tls-cert and tls-key";
    return nullptr;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1) {
    *error = cert_file + ": not a PEM certificate (" + openssl_reason() + ")";
    return nullptr;
  }
  X509* cert = SSL_CTX_get0_certificate(ctx.get());
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    *error = cert_file + ": the certificate has expired";
    return nullptr;
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    *error = cert_file + ": the certificate is not valid yet";
    return nullptr;
  }
  if (!s.chain_file.empty()) {
    FILE* f = std::fopen(s.chain_file.c_str(), "r");
    if (!f) {
      *error = s.chain_file + ": " + std::strerror(errno);
      return nullptr;
    }
    int added = 0;
    while (X509* c = PEM_read_X509(f, nullptr, nullptr, nullptr)) {
      SSL_CTX_add0_chain_cert(ctx.get(), c);
      ++added;
    }
    std::fclose(f);
    ERR_clear_error();  // the end of the file reads as an error
    if (added == 0) {
      *error = s.chain_file + ": no PEM certificate in it";
      return nullptr;
    }
  }
  if (!key_file_private(key_file, error)) return nullptr;
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
    std::string reason = openssl_reason();
    *error = mismatch ? key_file + ": the key does not match the certificate in " + cert_file
                      : key_file + ": not a PEM private key (" + reason + ")";
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    *error = key_file + ": the key does not match the certificate in " + cert_file;
    ERR_clear_error();
    return nullptr;
  }
  if (!s.ciphers.empty() && SSL_CTX_set_cipher_list(ctx.get(), s.ciphers.c_str()) != 1) {
    *error = "tls-ciphers: '" + s.ciphers + "': " + openssl_reason();
    return nullptr;
  }
  if (!s.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx.get(), s.ciphersuites.c_str()) != 1) {
    *error = "tls-ciphersuites: '" + s.ciphersuites + "': " + openssl_reason();
    return nullptr;
  }
  // Resumption: a server-side session cache and tickets (OpenSSL's defaults). A session
  // resumes only under the client-certificate rules it was made under: the context id
  // hashes them (OpenSSL refuses a session whose id differs), so a reload that adds or
  // changes tls-client-ca or tls-client-verify does not let older tickets past the new
  // rules, though the ticket keys survive reloads.
  unsigned char sid_ctx[SSL_MAX_SID_CTX_LENGTH];
  if (!session_context(s, sid_ctx, error)) return nullptr;
  SSL_CTX_set_session_id_context(ctx.get(), sid_ctx, sizeof sid_ctx);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER);
  if (s.ticket_rotation.count() > 0) {
    // Tickets under our rotated keys; a session (and its lifetime hint) lasts as long as
    // the oldest key that opens it.
    SSL_CTX_set_ex_data(ctx.get(), ex_index_tickets(), tickets);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx.get(), ticket_key);
    SSL_CTX_set_timeout(ctx.get(), static_cast<long>(2 * s.ticket_rotation.count()));
  } else {
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  }
  // An idle session frees its record buffers (about 34 KiB) until it reads again.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  if (!s.alpn.empty()) {
    auto* alpn = new std::vector<std::string>(s.alpn);  // lives as long as the context
    SSL_CTX_set_alpn_select_cb(ctx.get(), select_alpn, alpn);
    static int index = SSL_CTX_get_ex_new_index(
        0, nullptr, nullptr, nullptr,
        [](void*, void* p, CRYPTO_EX_DATA*, int, long, void*) {
          delete static_cast<std::vector<std::string>*>(p);
        });
    SSL_CTX_set_ex_data(ctx.get(), index, alpn);
  }
  if (!s.client_ca_file.empty()) {
    int mode;
    if (s.client_verify == "required")
      mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    else if (s.client_verify == "optional")
      mode = SSL_VERIFY_PEER;
    else {
      *error = "tls-client-verify: '" + s.client_verify + "' is not optional or required";
      return nullptr;
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.client_ca_file.c_str());
    if (!names ||
        SSL_CTX_load_verify_locations(ctx.get(), s.client_ca_file.c_str(), nullptr) != 1) {
      if (names) sk_X509_NAME_pop_free(names, X509_NAME_free);
      *error = s.client_ca_file + ": not a PEM CA certificate (" + openssl_reason() + ")";
      return nullptr;
    }
    SSL_CTX_set_client_CA_list(ctx.get(), names);
    SSL_CTX_set_verify(ctx.get(), mode, nullptr);
  }
  return ctx;
}


// SNI: the contexts of the certificates after the first, tried in order; owned by the
// default context (freed with it: a handshake under way may still need them).
struct SniTable {
  std::vector<CtxPtr> ctxs;
};

int ex_index_sni() {
  static int index = SSL_CTX_get_ex_new_index(
      0, nullptr, nullptr, nullptr,
      [](void*, void* p, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<SniTable*>(p); });
  return index;
}

// A server name that one of the other certificates covers switches to it; anything else
// (no name, no match) keeps the default, the first.
int select_certificate(SSL* ssl, int*, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_OK;
  const auto* table = static_cast<const SniTable*>(arg);
  for (const CtxPtr& c : table->ctxs) {
    if (X509_check_host(SSL_CTX_get0_certificate(c.get()), name, 0, 0, nullptr) == 1) {
      SSL_set_SSL_CTX(ssl, c.get());
      // SSL_set_SSL_CTX does not carry the verify settings over: keep the listener's.
      SSL_set_verify(ssl, SSL_CTX_get_verify_mode(c.get()), nullptr);
      break;
    }
  }
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

void TicketKeys::set_rotation(std::chrono::seconds r) {
  std::lock_guard lock(mu_);
  rotation_ = r;
}

bool TicketKeys::rotate_locked(std::chrono::steady_clock::time_point now) {
  if (!keys_.empty() && now - keys_.front().made < rotation_) return true;
  Key k;
  if (RAND_bytes(k.name, sizeof k.name) != 1 || RAND_bytes(k.aes, sizeof k.aes) != 1 ||
      RAND_bytes(k.hmac, sizeof k.hmac) != 1)
    return false;
  k.made = now;
  keys_.insert(keys_.begin(), k);
  if (keys_.size() > 2) {
    OPENSSL_cleanse(&keys_.back(), sizeof(Key));
    keys_.pop_back();
  }
  return true;
}

bool TicketKeys::current(Key* out) {
  std::lock_guard lock(mu_);
  if (!rotate_locked(std::chrono::steady_clock::now())) return false;
  *out = keys_.front();
  return true;
}

bool TicketKeys::find(const unsigned char* name, Key* out, bool* renew) {
  std::lock_guard lock(mu_);
  auto now = std::chrono::steady_clock::now();
  // A key seals tickets for at most one period after it is made, so accepting it for
  // two keeps every ticket under two periods old.
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (std::memcmp(keys_[i].name, name, sizeof keys_[i].name) != 0) continue;
    if (now - keys_[i].made >= 2 * rotation_) return false;
    *out = keys_[i];
    *renew = i > 0;
    return true;
  }
  return false;
}

const char* Metrics::name(Result r) {
  static const char* const kNames[] = {"ok",      "version", "no_shared_cipher", "bad_certificate",
                                       "timeout", "not_tls", "aborted",          "other"};
  return r < kResults ? kNames[r] : "?";
}

void Metrics::established(double seconds, bool resumed, std::string_view version,
                          std::string_view cipher) {
  if (resumed) resumed_.fetch_add(1, std::memory_order_relaxed);
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  buckets_[b].fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  time_sum_ += seconds;
  ++sessions_[{std::string(version), std::string(cipher)}];
}

Metrics::Snapshot Metrics::snapshot() const {
  Snapshot s;
  for (size_t i = 0; i < kResults; ++i) s.handshakes[i] = handshakes_[i].load();
  s.resumed = resumed_.load();
  for (size_t i = 0; i < buckets_.size(); ++i) s.time_buckets[i] = buckets_[i].load();
  std::lock_guard lock(mu_);
  s.time_sum = time_sum_;
  s.sessions = sessions_;
  return s;
}

std::shared_ptr<TransportFactory> server(const Settings& s, std::string* error,
                                         std::shared_ptr<Context> context) {
  if (!context) context = std::make_shared<Context>();
  if (s.ticket_rotation > kMaxTicketRotation) {
    *error = "tls-ticket-rotation: " + std::to_string(s.ticket_rotation.count()) +
             " s is over the limit of " + std::to_string(kMaxTicketRotation.count()) +
             " s (7 days)";
    return nullptr;
  }
  CtxPtr ctx = make_ctx(s, s.cert_file, s.key_file, &context->tickets, error);
  if (!ctx) return nullptr;
  if (!s.more_certificates.empty()) {
    auto table = std::make_unique<SniTable>();
    for (const auto& [cert, key] : s.more_certificates) {
      CtxPtr c = make_ctx(s, cert, key, &context->tickets, error);
      if (!c) return nullptr;
      table->ctxs.push_back(std::move(c));
    }
    SSL_CTX_set_tlsext_servername_callback(ctx.get(), select_certificate);
    SSL_CTX_set_tlsext_servername_arg(ctx.get(), table.get());
    SSL_CTX_set_ex_data(ctx.get(), ex_index_sni(), table.release());
  }
  // Only now that every file and setting is good (a failed reload changes nothing).
  context->tickets.set_rotation(s.ticket_rotation);
  context->used.store(true, std::memory_order_relaxed);
  return std::make_shared<Factory>(std::move(ctx), std::move(context));
}

bool kernel_tls_available(std::string* why) {
  const char* path = "/proc/sys/net/ipv4/tcp_available_ulp";
  FILE* f = std::fopen(path, "r");
  if (!f) {
    *why = std::string(path) + ": " + std::strerror(errno);
    return false;
  }
  char line[256] = "";
  bool found = false;
  if (std::fgets(line, sizeof line, f)) {
    char* save = nullptr;
    for (char* tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(nullptr, " \n", &save))
      found = found || std::strcmp(tok, "tls") == 0;
  }
  std::fclose(f);
  if (!found) *why = std::string("no 'tls' in ") + path + " (modprobe tls)";
  return found;
}

}  // namespace gev::tls
