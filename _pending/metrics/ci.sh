#!/bin/sh
# metrics: install promtool (Debian prometheus 2.42) and prove the exposition passes
# `promtool check metrics` (exit 0; 1 = parse error, 3 = lint problem). The grep makes
# CI fail if the test skipped instead of running.
set -eu
if ! command -v promtool >/dev/null 2>&1; then
	apt-get update
	apt-get install -y --no-install-recommends prometheus
fi
out=$(go test -count=1 -run '^TestMetricsPromtool$' -v .)
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -q -- '^--- PASS: TestMetricsPromtool' || {
	echo 'TestMetricsPromtool did not run and pass' >&2
	exit 1
}
