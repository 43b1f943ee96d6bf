#!/bin/sh
# nfc-oracle.sh compares rip's NFC normalizer with golang.org/x/text/unicode/norm.
# interop/nfcoracle (its own module; go test fetches x/text from the Go module
# proxy) writes x/text's NFC of about 800,000 inputs to a temporary file, then
# rip's TestNFCOracle checks its own output for each.
set -eu
cd "$(dirname "$0")/.."
vectors=$(mktemp)
trap 'rm -f "$vectors"' EXIT
(cd interop/nfcoracle && RIP_NFC_ORACLE="$vectors" go test -count=1 -run TestWriteVectors -v .)
RIP_NFC_ORACLE="$vectors" go test -count=1 -run TestNFCOracle -v .
