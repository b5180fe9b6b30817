#!/bin/sh
# Makes the certificates the TLS tests use, with the openssl command, in
# DIR: a test CA (ca.pem) and another one (other-ca.pem); server.pem for
# localhost and 127.0.0.1; wrongname.pem for other.example; expired.pem
# (valid in January 2020 only); client.pem for "CN=alice,O=Lab"; each
# with its KEY (.key, mode 0600). Short-lived: 2 days.
#   tls-certs.sh DIR
set -eu
d=$1
mkdir -p "$d"
cd "$d"
umask 077
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

# shellcheck disable=SC2086
openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 \
	-subj "/CN=jobd test CA" 2>/dev/null
# shellcheck disable=SC2086
openssl req -x509 $ec -keyout other-ca.key -out other-ca.pem -days 2 \
	-subj "/CN=some other CA" 2>/dev/null

sign() { # name subject san
	# shellcheck disable=SC2086
	openssl req $ec -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
	printf 'subjectAltName=%s\n' "$3" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key \
		-CAcreateserial -days 2 -extfile "$1.ext" -out "$1.pem" \
		2>/dev/null
}
sign server "/CN=localhost" "DNS:localhost,IP:127.0.0.1"
sign wrongname "/CN=other.example" "DNS:other.example"
sign client "/CN=alice/O=Lab" "email:alice@lab.example"

# An expired one: `openssl ca` is the command that takes explicit dates.
# shellcheck disable=SC2086
openssl req $ec -keyout expired.key -out expired.csr -subj "/CN=localhost" \
	2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >expired.ext
: >index.txt
echo 1000 >serial
cat >ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = $d/index.txt
new_certs_dir = $d
serial = $d/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
CNF
openssl ca -batch -notext -config ca.cnf -cert ca.pem -keyfile ca.key \
	-in expired.csr -out expired.pem -extfile expired.ext \
	-startdate 20200101000000Z -enddate 20200102000000Z 2>/dev/null
