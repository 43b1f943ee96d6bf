#!/bin/sh
# lru-oracle.sh compares rip.NewLRU with hashicorp/golang-lru on the same
# random operations. interop/lru is its own module (go test fetches the
# oracle from the Go module proxy), so the oracle never enters rip's graph.
set -eu
cd "$(dirname "$0")/.."
(cd interop/lru && go test -count=1 ./...)
