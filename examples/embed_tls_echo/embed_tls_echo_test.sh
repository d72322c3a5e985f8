#!/bin/bash
# examples/embed_tls_echo: Options::tls from --tls-cert/--tls-key; openssl s_client gets
# its echo back over a verified session, and the handler logs the negotiated version; a
# key that does not match the certificate is refused with exit 2, naming the file.
# usage: embed_tls_echo_test.sh EMBED_TLS_ECHO
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../tests/lib/serve.sh"
bin=$1
dir=$(mktemp -d /tmp/gev-embed-tls.XXXXXX)
trap 'kill_server; rm -rf "$dir"' EXIT
cd "$dir"

for name in cert other; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $name.key \
    -out $name.pem -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
  chmod 600 $name.key
done

set +e
out=$("$bin" --port 0 --tls-cert cert.pem --tls-key other.key 2>&1)
status=$?
set -e
[ "$status" -eq 2 ] || { echo "a mismatched key: exit $status, not 2: $out"; exit 1; }
grep -q "other.key: the key does not match the certificate in cert.pem" <<<"$out" ||
  { echo "the refusal does not name the key: $out"; exit 1; }

serve server.log "$bin" --port 0 --loops 2 --tls-cert cert.pem --tls-key cert.key
reply=$( (echo "hello over tls"; sleep 1) |
  timeout 20 openssl s_client -connect 127.0.0.1:$port -servername localhost -CAfile cert.pem \
    -verify_return_error -quiet -no_ign_eof 2>/dev/null | head -1)
[ "$reply" = "hello over tls" ] || { echo "s_client got '$reply'"; cat server.log; exit 1; }
for _ in $(seq 200); do grep -q "TLSv1.3 TLS_" server.log && break; sleep 0.05; done
grep -q "TLSv1.3 TLS_" server.log || { echo "on_connect did not see TLSv1.3"; cat server.log; exit 1; }
stop_server server.log
echo "PASS embed_tls_echo: echo over a verified session, Connection::tls() in on_connect, a bad key refused (exit 2)"
