// Package lru checks rip's hand-written LRU against an independent
// implementation, hashicorp/golang-lru, on the same random operations. It is
// a separate module so that the oracle never enters rip's module graph.
package lru

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/ripkit/rip"
)

func TestLRUAgainstGolangLRU(t *testing.T) {
	// Below 16 shards × 1024 entries rip keeps one shard and exact LRU order,
	// which is what this oracle implements.
	for _, size := range []int{1, 3, 100, 4096} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			ours := rip.NewLRU(size)
			oracle, err := simplelru.NewLRU[string, int](size, nil)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, uint64(size)))
			for i := range 200_000 {
				k := strconv.Itoa(rng.IntN(2*size + 1))
				switch rng.IntN(10) {
				case 0:
					ours.Delete(k)
					oracle.Remove(k)
				case 1, 2, 3:
					ours.Set(k, i, 0)
					oracle.Add(k, i)
				default:
					got, gotOK := ours.Get(k)
					want, wantOK := oracle.Get(k)
					if gotOK != wantOK || (gotOK && got != want) {
						t.Fatalf("op %d Get(%s) = %v, %v; golang-lru %v, %v", i, k, got, gotOK, want, wantOK)
					}
				}
			}
		})
	}
}
