#!/bin/sh
# promtool.sh proves rip's metrics exposition passes `promtool check metrics`
# (Debian's prometheus package; .ci/run installs it). promtool exits 1 on a
# parse error and 3 on a lint problem; either fails TestMetricsPromtool. The
# grep makes CI fail if the test skipped instead of running.
set -eu
cd "$(dirname "$0")/.."
out=$(RIP_CI=1 go test -count=1 -run '^TestMetricsPromtool$' -v .)
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -q -- '^--- PASS: TestMetricsPromtool' || {
	echo 'TestMetricsPromtool did not run and pass' >&2
	exit 1
}
