#!/usr/bin/env bash
# jwt-oracle.sh — round-trips tokens between rip's hand-written HS256 JWT
# (jwt.go) and github.com/golang-jwt/jwt/v5 (interop/jwtoracle), in both
# directions, then prints both implementations' benchmarks from one run.
#
#   1. rip signs tokens of every purpose           -> $tmp/rip.json
#   2. golang-jwt verifies them (header + claims), then signs valid and
#      rule-breaking tokens of its own              -> $tmp/foreign.json
#   3. rip verifies golang-jwt's tokens: every valid one must pass with the
#      same claims; none may pass that golang-jwt refuses or that breaks a
#      rip rule (rip may be stricter, never looser).
#
# Needs only Go and the Go module proxy (for golang-jwt v5.3.1).
# Set JWT_ORACLE_BENCH=0 to skip the benchmarks, RIP_ROOT to the module root
# if this script is moved out of it.
set -euo pipefail

here=${RIP_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
[ -f "$here/jwt.go" ] && [ -f "$here/interop/jwtoracle/go.mod" ] || { echo "jwt-oracle: run from rip's module root or set RIP_ROOT" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "jwt-oracle: FAIL: $*" >&2; exit 1; }

# run_test DIR NAME ENV... runs one test verbosely and fails unless it ran
# and passed (a skip is a failure here).
run_test() {
	local dir=$1 name=$2 log
	shift 2
	log=$tmp/$name.$RANDOM.log
	if ! (cd "$dir" && env "$@" go test -count=1 -run "^${name}\$" -v . >"$log" 2>&1); then
		cat "$log"
		fail "$name in $dir"
	fi
	grep -q -- "^--- PASS: ${name} " "$log" || { cat "$log"; fail "$name in $dir did not run (skipped?)"; }
	grep -E 'wrote|tokens:' "$log" || true
}

echo "== 1/3 rip signs tokens"
run_test "$here" TestJWTOracleVectors RIP_JWT_VECTORS="$tmp/rip.json"
echo "== 2/3 golang-jwt v5 verifies rip's tokens and signs its own"
run_test "$here/interop/jwtoracle" TestOracle RIP_JWT_VECTORS="$tmp/rip.json" RIP_JWT_FOREIGN="$tmp/foreign.json"
echo "== 3/3 rip verifies golang-jwt's tokens"
run_test "$here" TestJWTOracleVectors RIP_JWT_FOREIGN="$tmp/foreign.json"
echo "jwt-oracle: round trip OK"

if [ "${JWT_ORACLE_BENCH:-1}" != 0 ]; then
	# Rounds alternate between the two modules so that load from other
	# tenants of a shared machine falls on both alike.
	echo "== benchmarks (rip and golang-jwt v5.3.1 alternating; same machine, same run)"
	for round in 1 2 3; do
		(cd "$here" && go test -run '^$' -bench '^Benchmark(JWT|Authenticate$)' -benchtime=200ms -benchmem -count=1 .) | grep -E '^Benchmark'
		(cd "$here/interop/jwtoracle" && go test -run '^$' -bench '^BenchmarkGolangJWT' -benchtime=200ms -benchmem -count=1 .) | grep -E '^Benchmark'
	done
fi
