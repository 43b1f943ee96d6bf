#!/usr/bin/env bash
# toml-test.sh runs the official TOML conformance suite (toml-lang/toml-test,
# TOML 1.0) against rip's hand-written TOML decoder and encoder.
#
# The decoder and encoder are rip's own test binary: its TestMain turns it
# into a toml-test decoder when RIP_TOML_TEST_DECODER=1 and an encoder when
# RIP_TOML_TEST_ENCODER=1, so package rip gains no command and no dependency.
#
# testdata/toml-test-skip.txt lists valid cases that use a feature rip
# declares unsupported (arrays of tables). They run with -skip-must-err: a
# listed case that starts passing fails the run (remove it from the list), and
# any other failure fails the run. Exit status is toml-test's.
#
# Usage: ./toml-test.sh [extra toml-test flags, e.g. -v or -run 'valid/string/*']
set -euo pipefail

TOML_TEST_VERSION=v2.2.0

cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go test -c -o "$tmp/rip.test" .

gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
go install "github.com/toml-lang/toml-test/v2/cmd/toml-test@${TOML_TEST_VERSION}"

# toml-test splits -decoder on blanks, so the test binary is wrapped in a
# one-line script rather than passed with an env prefix.
printf '#!/bin/sh\nRIP_TOML_TEST_DECODER=1 exec "%s/rip.test"\n' "$tmp" >"$tmp/decoder"
printf '#!/bin/sh\nRIP_TOML_TEST_ENCODER=1 exec "%s/rip.test"\n' "$tmp" >"$tmp/encoder"
chmod +x "$tmp/decoder" "$tmp/encoder"

skip=$(grep -v -e '^#' -e '^[[:space:]]*$' testdata/toml-test-skip.txt | paste -sd, -)

NO_COLOR=1 "$gobin/toml-test" test \
	-toml 1.0 \
	-decoder "$tmp/decoder" \
	-encoder "$tmp/encoder" \
	-skip "$skip" -skip-must-err \
	-parallel "${TOML_TEST_PARALLEL:-2}" \
	-timeout 5s \
	"$@"
