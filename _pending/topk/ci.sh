#!/bin/sh
# Oracle suite for the LRU cache: compares rip.NewLRU with hashicorp/golang-lru
# (fetched from the Go module proxy into the separate interop module).
set -eu
(cd interop/lru && go test -count=1 ./...)
