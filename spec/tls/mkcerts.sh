#!/usr/bin/env bash
# Make a throwaway PKI for the HTTPS tests, at test time, with openssl.
#
#   bash spec/tls/mkcerts.sh DIR
#
# writes into DIR (created if needed; existing files are replaced):
#   ca.crt, ca.key          "nuon test CA", the CA tests pass as ca_file
#   server.crt, server.key  the test server's certificate, signed by that CA,
#                           valid for IP 127.0.0.1 only (so https://localhost
#                           fails host name verification even with ca_file)
#   other-ca.crt            an unrelated CA that signed nothing we serve
#
# Keys are P-256 and certificates valid for two days: nothing here is a secret
# worth keeping, and a fresh set is made every time the test server starts.
set -euo pipefail

dir=${1:?usage: mkcerts.sh DIR}
command -v openssl >/dev/null 2>&1 || { echo "mkcerts.sh: openssl not found (make deps)" >&2; exit 1; }
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.mk.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)

make_ca() { # name subject
  openssl req -x509 "${newkey[@]}" -keyout "$tmp/$1.key" -out "$tmp/$1.crt" -days 2 \
    -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
make_ca ca "nuon test CA"
make_ca other-ca "nuon unrelated CA"

openssl req "${newkey[@]}" -keyout "$tmp/server.key" -out "$tmp/server.csr" \
  -subj "/CN=127.0.0.1" 2>/dev/null
printf '%s\n' "subjectAltName=IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" > "$tmp/server.ext"
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" \
  -CAcreateserial -out "$tmp/server.crt" -days 2 -extfile "$tmp/server.ext" 2>/dev/null
openssl verify -CAfile "$tmp/ca.crt" "$tmp/server.crt" >/dev/null

chmod 600 "$tmp"/*.key
for f in ca.crt ca.key server.crt server.key other-ca.crt; do mv -f "$tmp/$f" "$dir/$f"; done
