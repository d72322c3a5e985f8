// gev::tls's glue (tls/src/tls.cc) between wire bytes and the protocol, driven through
// memory only. The first byte picks a mode:
//   0: the input is what a client sent: bytes straight into the server (a ClientHello,
//      or garbage); whatever happens must be an error or a wait, never a crash;
//   1: a real client (OpenSSL, in process) completes a handshake, then sends the input
//      as application data in writes whose sizes the input also picks; the server must
//      hand back exactly those bytes, and its replies must reach the client intact;
//   2: as 1, then the input goes in raw after the handshake (forged records): an error.
#include <gev/tls.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

std::shared_ptr<gev::TransportFactory> g_server;
SSL_CTX* g_client = nullptr;

// A throw-away EC key and self-signed certificate, written where Settings can read them.
void make_credentials(std::string* cert, std::string* key) {
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  X509* x = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, pkey);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("fuzz"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, pkey, EVP_sha256());
  char dir[] = "/tmp/gev-fuzz-tls-XXXXXX";
  if (!mkdtemp(dir)) std::abort();
  *cert = std::string(dir) + "/cert.pem";
  *key = std::string(dir) + "/key.pem";
  FILE* f = std::fopen(cert->c_str(), "w");
  PEM_write_X509(f, x);
  std::fclose(f);
  f = std::fopen(key->c_str(), "w");
  PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  chmod(key->c_str(), 0600);
  X509_free(x);
  EVP_PKEY_free(pkey);
}

// Moves everything the server wants to send into the client's read BIO.
void to_client(gev::Transport& server, BIO* client_in) {
  for (auto out = server.pending_output(); !out.empty(); out = server.pending_output()) {
    BIO_write(client_in, out.data(), static_cast<int>(out.size()));
    server.consume_output(out.size());
  }
}

// Moves everything the client wants to send into the server; collects plaintext.
bool to_server(BIO* client_out, gev::Transport& server, std::string* plain) {
  uint8_t wire[16384];
  static uint8_t out[1 << 16];
  int n;
  bool ok = true;
  while ((n = BIO_read(client_out, wire, sizeof wire)) > 0) {
    std::span<const uint8_t> in(wire, static_cast<size_t>(n));
    for (;;) {
      gev::Transport::Input r = server.input(in, {out, sizeof out});
      in = {};
      plain->append(reinterpret_cast<char*>(out), r.plain);
      if (r.error) ok = false;
      if (!r.more || r.error) break;
    }
  }
  return ok;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  gev::tls::Settings s;
  make_credentials(&s.cert_file, &s.key_file);
  std::string error;
  g_server = gev::tls::server(s, &error);
  if (!g_server) {
    std::fprintf(stderr, "fuzz_tls: %s\n", error.c_str());
    std::abort();
  }
  g_client = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(g_client, SSL_VERIFY_NONE, nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  int mode = data[0] % 3;
  std::span<const uint8_t> rest(data + 1, size - 1);
  std::unique_ptr<gev::Transport> server = g_server->make();
  if (mode == 0) {
    static uint8_t out[1 << 16];
    server->input(rest, {out, sizeof out});
    for (auto o = server->pending_output(); !o.empty(); o = server->pending_output())
      server->consume_output(o.size());
    return 0;
  }
  SSL* client = SSL_new(g_client);
  BIO* c_in = BIO_new(BIO_s_mem());
  BIO* c_out = BIO_new(BIO_s_mem());
  SSL_set_bio(client, c_in, c_out);
  SSL_set_connect_state(client);
  std::string plain;
  for (int round = 0; round < 10 && !server->established(); ++round) {
    SSL_do_handshake(client);
    if (!to_server(c_out, *server, &plain)) std::abort();  // a real client must not fail
    to_client(*server, c_in);
  }
  SSL_do_handshake(client);
  if (!server->established() || !SSL_is_init_finished(client)) std::abort();
  if (mode == 2) {
    static uint8_t out[1 << 16];
    server->input(rest, {out, sizeof out});  // an error or a wait, never a crash
  } else {
    // Writes of sizes taken from the input itself, then everything reaches the server.
    size_t off = 0;
    std::string sent;
    while (off < rest.size()) {
      size_t len = 1 + rest[off] % 200;
      if (len > rest.size() - off) len = rest.size() - off;
      SSL_write(client, rest.data() + off, static_cast<int>(len));
      sent.append(reinterpret_cast<const char*>(rest.data() + off), len);
      off += len;
      if (rest[off - 1] & 1) to_server(c_out, *server, &plain);
    }
    if (!to_server(c_out, *server, &plain) || plain != sent) std::abort();
    // The server's replies: the same bytes back, then close_notify.
    if (!server->output({reinterpret_cast<const uint8_t*>(plain.data()), plain.size()}))
      std::abort();
    server->end_output();
    to_client(*server, c_in);
    std::string back(plain.size() + 1, '\0');
    size_t got = 0;
    int n;
    while (got < back.size() && (n = SSL_read(client, back.data() + got,
                                              static_cast<int>(back.size() - got))) > 0)
      got += static_cast<size_t>(n);
    if (got != plain.size() || back.compare(0, got, plain) != 0) std::abort();
    if (SSL_get_error(client, n) != SSL_ERROR_ZERO_RETURN) std::abort();  // close_notify
  }
  SSL_free(client);
  return 0;
}
