#!/usr/bin/env bash
# testca.sh OUTDIR [HOST]: make the test PKI of the mock service with openssl (P-256 keys).
#
#   ca.pem ca.key                    the test CA the client under test trusts
#   server.pem server.key            localhost (DNS:localhost, IP:127.0.0.1, and DNS:HOST when
#                                    given), signed by the CA
#   wronghost.pem wronghost.key      signed by the CA, SAN only DNS:wrong.example
#   expired.pem expired.key          signed by the CA, valid 2020-01-01 .. 2020-02-01 only
#   otherca.pem otherca.key          a second CA the client does NOT trust
#   unknownca-server.pem/.key        localhost, signed by otherca
#
# Made when tests start, never committed. Idempotent: when OUTDIR already holds a complete
# set (marker file .complete), nothing is done. Concurrent runs on one OUTDIR are serialised
# with flock. The files are written to a private temp dir first and moved in at the end,
# so a reader never sees a half-made set.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 OUTDIR [HOST]" >&2
  exit 2
fi
out=$1
extra_san=${2:+, DNS:$2}
mkdir -p "$out"
out=$(cd "$out" && pwd)

exec 9>"$out/.lock"
flock 9

[ -f "$out/.complete" ] && exit 0

work=$(mktemp -d "$out/.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

ossl() { openssl "$@" 2>/dev/null || { echo "testca.sh: openssl $1 failed" >&2; openssl "$@" >&2; exit 1; }; }
key() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

cat >ext.cnf <<EOF
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:localhost, IP:127.0.0.1$extra_san

[wronghost]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:wrong.example
EOF

# mkca NAME CN: a self-signed CA valid for 10 years.
mkca() {
  key "$1.key"
  ossl req -new -x509 -sha256 -days 3650 -key "$1.key" -subj "/O=ampd test/CN=$2" \
    -config ext.cnf -extensions ca_ext -out "$1.pem"
}

# leaf NAME CA EXT CN: a leaf certificate valid for 2 years, signed by CA.
leaf() {
  key "$1.key"
  ossl req -new -key "$1.key" -subj "/O=ampd test/CN=$4" -out "$1.csr"
  ossl x509 -req -sha256 -days 730 -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" \
    -set_serial "0x$(openssl rand -hex 8)" -extfile ext.cnf -extensions "$3" -out "$1.pem"
}

mkca ca "ampd test CA"
mkca otherca "ampd untrusted CA"
leaf server ca leaf localhost
leaf wronghost ca wronghost wrong.example
leaf unknownca-server otherca leaf localhost

# expired: `openssl x509 -req` of OpenSSL 3.0 cannot set a start date, `openssl ca` can.
key expired.key
ossl req -new -key expired.key -subj "/O=ampd test/CN=localhost" -out expired.csr
mkdir -p cadb
: >cadb/index.txt
cat >ca.cnf <<EOF
[ca]
default_ca = testca
[testca]
dir = $work/cadb
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
commonName = supplied
organizationName = optional
EOF
openssl rand -hex 8 >cadb/serial
ossl ca -batch -config ca.cnf -notext -cert ca.pem -keyfile ca.key \
  -startdate 20200101000000Z -enddate 20200201000000Z \
  -extfile ext.cnf -extensions leaf -in expired.csr -out expired.pem

chmod 600 ./*.key
for f in ca otherca server wronghost expired unknownca-server; do
  mv -f "$f.pem" "$out/$f.pem"
  mv -f "$f.key" "$out/$f.key"
done
: >"$out/.complete"
