#!/usr/bin/env bash
# Makes a throwaway PKI for the TLS tests in DIR (created if missing), with
# the openssl CLI, valid for one day:
#   ca.pem ca.key                 the test CA
#   server.pem server.key         CN=localhost, SAN localhost and 127.0.0.1
#   client.pem client.key         CN=alice-cert (signed by the test CA)
#   other-ca.pem                  an unrelated CA (the "wrong CA")
#   other-client.pem other-client.key   CN=alice-cert signed by other-ca
# Usage: make_test_pki.sh DIR
set -euo pipefail
dir=${1:?usage: make_test_pki.sh DIR}
mkdir -p "$dir"
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() {  # ca NAME CN
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 1 -subj "/CN=$2" 2>/dev/null
}
leaf() {  # leaf NAME CN CA [EXTFILE]
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial \
    -out "$1.pem" -days 1 ${4:+-extfile "$4"} 2>/dev/null
  rm -f "$1.csr"
}
ca ca "autotm test CA"
ca other-ca "some other CA"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
leaf server localhost ca server.ext
leaf client alice-cert ca
leaf other-client alice-cert other-ca
echo "test PKI in $dir"
