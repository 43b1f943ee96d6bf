package rip

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// cacheTestClock is a settable clock for [LRU.now].
type cacheTestClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *cacheTestClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *cacheTestClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func cacheNewTestClock() *cacheTestClock {
	return &cacheTestClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// cacheCheckInvariants walks every shard and fails if the list, the index and
// the free list disagree, or if a shard holds more than its capacity.
func cacheCheckInvariants(t *testing.T, c *LRU) {
	t.Helper()
	for si := range c.shards {
		s := &c.shards[si]
		s.mu.Lock()
		seen := 0
		for i := s.entries[0].next; i != 0; i = s.entries[i].next {
			seen++
			if seen > len(s.entries) {
				s.mu.Unlock()
				t.Fatalf("shard %d: list has a cycle", si)
			}
			if j, ok := s.index[s.entries[i].key]; !ok || j != i {
				t.Errorf("shard %d: entry %d key %q not indexed at itself", si, i, s.entries[i].key)
			}
			if s.entries[s.entries[i].next].prev != i {
				t.Errorf("shard %d: broken back link at %d", si, i)
			}
		}
		free := 0
		for i := s.free; i != 0; i = s.entries[i].next {
			free++
		}
		if seen != len(s.index) {
			t.Errorf("shard %d: list has %d entries, index %d", si, seen, len(s.index))
		}
		if seen+free != len(s.entries)-1 {
			t.Errorf("shard %d: %d linked + %d free != %d slots", si, seen, free, len(s.entries)-1)
		}
		if seen > s.capacity {
			t.Errorf("shard %d: %d entries exceed capacity %d", si, seen, s.capacity)
		}
		s.mu.Unlock()
	}
}

func TestCacheEvictionOrder(t *testing.T) {
	type op struct {
		kind string // "set", "get", "del"
		key  string
	}
	tests := []struct {
		name    string
		ops     []op
		present []string
		absent  []string
	}{
		{
			name:    "oldest goes first",
			ops:     []op{{"set", "a"}, {"set", "b"}, {"set", "c"}, {"set", "d"}},
			present: []string{"b", "c", "d"},
			absent:  []string{"a"},
		},
		{
			name:    "get refreshes recency",
			ops:     []op{{"set", "a"}, {"set", "b"}, {"set", "c"}, {"get", "a"}, {"set", "d"}},
			present: []string{"a", "c", "d"},
			absent:  []string{"b"},
		},
		{
			name:    "set of an existing key refreshes recency",
			ops:     []op{{"set", "a"}, {"set", "b"}, {"set", "c"}, {"set", "a"}, {"set", "d"}},
			present: []string{"a", "c", "d"},
			absent:  []string{"b"},
		},
		{
			name:    "miss does not refresh anything",
			ops:     []op{{"set", "a"}, {"set", "b"}, {"set", "c"}, {"get", "zz"}, {"set", "d"}},
			present: []string{"b", "c", "d"},
			absent:  []string{"a", "zz"},
		},
		{
			name:    "delete frees a slot without evicting",
			ops:     []op{{"set", "a"}, {"set", "b"}, {"set", "c"}, {"del", "b"}, {"set", "d"}},
			present: []string{"a", "c", "d"},
			absent:  []string{"b"},
		},
		{
			name:    "eviction continues in order",
			ops:     []op{{"set", "a"}, {"set", "b"}, {"set", "c"}, {"get", "a"}, {"set", "d"}, {"set", "e"}},
			present: []string{"a", "d", "e"},
			absent:  []string{"b", "c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewLRU(3)
			for _, o := range tt.ops {
				switch o.kind {
				case "set":
					c.Set(o.key, "v-"+o.key, 0)
				case "get":
					c.Get(o.key)
				case "del":
					c.Delete(o.key)
				}
			}
			cacheCheckInvariants(t, c)
			// Check absent keys first: Get refreshes recency but never
			// evicts, so order of reads does not change membership.
			for _, k := range tt.absent {
				if v, ok := c.Get(k); ok {
					t.Errorf("Get(%q) = %v, want absent", k, v)
				}
			}
			for _, k := range tt.present {
				if v, ok := c.Get(k); !ok || v != "v-"+k {
					t.Errorf("Get(%q) = %v, %v; want v-%s", k, v, ok, k)
				}
			}
		})
	}
}

func TestCacheTTL(t *testing.T) {
	tests := []struct {
		name    string
		ttl     time.Duration
		advance time.Duration
		want    bool
	}{
		{name: "zero ttl never expires", ttl: 0, advance: 1000 * time.Hour, want: true},
		{name: "negative ttl never expires", ttl: -time.Second, advance: 1000 * time.Hour, want: true},
		{name: "before expiry", ttl: time.Second, advance: time.Second - 1, want: true},
		{name: "at expiry", ttl: time.Second, advance: time.Second, want: false},
		{name: "after expiry", ttl: time.Second, advance: time.Minute, want: false},
		{name: "huge ttl saturates", ttl: time.Duration(math.MaxInt64), advance: 1000 * time.Hour, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := cacheNewTestClock()
			c := NewLRU(10)
			c.now = clock.now
			c.Set("k", 1, tt.ttl)
			clock.advance(tt.advance)
			_, ok := c.Get("k")
			if ok != tt.want {
				t.Fatalf("Get after %v with ttl %v: present=%v, want %v", tt.advance, tt.ttl, ok, tt.want)
			}
			if wantLen := map[bool]int{true: 1, false: 0}[tt.want]; c.len() != wantLen {
				t.Errorf("len = %d, want %d (expired entries are dropped on read)", c.len(), wantLen)
			}
			cacheCheckInvariants(t, c)
		})
	}
}

func TestCacheSetResetsTTL(t *testing.T) {
	clock := cacheNewTestClock()
	c := NewLRU(10)
	c.now = clock.now
	c.Set("k", 1, time.Second)
	c.Set("k", 2, 0)
	clock.advance(time.Hour)
	if v, ok := c.Get("k"); !ok || v != 2 {
		t.Fatalf("Get = %v, %v; want 2, true (second Set dropped the ttl)", v, ok)
	}
	c.Set("k", 3, time.Minute)
	clock.advance(time.Minute)
	if v, ok := c.Get("k"); ok {
		t.Fatalf("Get = %v; want expired", v)
	}
}

func TestCacheDefaultCapacity(t *testing.T) {
	for _, n := range []int{0, -5} {
		c := NewLRU(n)
		got := 0
		for i := range c.shards {
			got += c.shards[i].capacity
		}
		if got != cacheDefaultEntries {
			t.Errorf("NewLRU(%d) capacity = %d, want %d", n, got, cacheDefaultEntries)
		}
	}
}

// cacheModel is an obviously correct LRU used as the oracle: a slice ordered
// from least to most recently used.
type cacheModel struct {
	keys []string
	vals map[string]int
	max  int
}

func (m *cacheModel) touch(k string) {
	m.keys = slices.DeleteFunc(m.keys, func(s string) bool { return s == k })
	m.keys = append(m.keys, k)
}

func (m *cacheModel) get(k string) (int, bool) {
	v, ok := m.vals[k]
	if ok {
		m.touch(k)
	}
	return v, ok
}

func (m *cacheModel) set(k string, v int) {
	if _, ok := m.vals[k]; !ok && len(m.keys) == m.max {
		delete(m.vals, m.keys[0])
		m.keys = m.keys[1:]
	}
	m.vals[k] = v
	m.touch(k)
}

func (m *cacheModel) del(k string) {
	delete(m.vals, k)
	m.keys = slices.DeleteFunc(m.keys, func(s string) bool { return s == k })
}

func TestCacheMatchesModel(t *testing.T) {
	for _, size := range []int{1, 2, 7, 64} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(size)))
			c := NewLRU(size)
			m := &cacheModel{vals: map[string]int{}, max: size}
			for i := range 20_000 {
				k := strconv.Itoa(rng.IntN(size * 3))
				switch rng.IntN(10) {
				case 0:
					c.Delete(k)
					m.del(k)
				case 1, 2, 3, 4:
					c.Set(k, i, 0)
					m.set(k, i)
				default:
					got, gotOK := c.Get(k)
					want, wantOK := m.get(k)
					if gotOK != wantOK || (gotOK && got != want) {
						t.Fatalf("op %d Get(%s) = %v, %v; model %v, %v", i, k, got, gotOK, want, wantOK)
					}
				}
			}
			if c.len() != len(m.keys) {
				t.Fatalf("len = %d, model %d", c.len(), len(m.keys))
			}
			cacheCheckInvariants(t, c)
		})
	}
}

func TestCacheBoundNeverExceeded(t *testing.T) {
	tests := []struct {
		name string
		max  int
	}{
		{name: "single shard", max: 100},
		{name: "sharded", max: cacheShards * cacheMinShardEntries},
		{name: "sharded with remainder", max: cacheShards*cacheMinShardEntries + 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewLRU(tt.max)
			capSum := 0
			for i := range c.shards {
				capSum += c.shards[i].capacity
			}
			if capSum != tt.max {
				t.Fatalf("shard capacities add up to %d, want %d", capSum, tt.max)
			}
			for i := range 3 * tt.max {
				c.Set(strconv.Itoa(i), i, 0)
				if i%997 == 0 && c.len() > tt.max {
					t.Fatalf("after %d sets len = %d > %d", i+1, c.len(), tt.max)
				}
			}
			if n := c.len(); n > tt.max || n < tt.max*9/10 {
				t.Fatalf("len = %d, want at most %d and close to it", n, tt.max)
			}
			cacheCheckInvariants(t, c)
		})
	}
}

func TestCacheConcurrent(t *testing.T) {
	const max = cacheShards * cacheMinShardEntries
	for _, c := range []*LRU{NewLRU(50), NewLRU(max)} {
		t.Run(fmt.Sprint(len(c.shards), "shards"), func(t *testing.T) {
			clock := cacheNewTestClock()
			c.now = clock.now
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(g), 9))
					for i := range 5000 {
						k := strconv.Itoa(rng.IntN(3 * max))
						switch rng.IntN(8) {
						case 0:
							c.Delete(k)
						case 1:
							clock.advance(time.Millisecond)
						case 2, 3:
							c.Set(k, i, time.Duration(rng.IntN(100))*time.Millisecond)
						default:
							if v, ok := c.Get(k); ok {
								if _, isInt := v.(int); !isInt {
									t.Errorf("Get(%s) = %T, want int", k, v)
								}
							}
						}
					}
				})
			}
			wg.Wait()
			cacheCheckInvariants(t, c)
		})
	}
}

func TestCacheInterface(t *testing.T) {
	var c Cache = NewLRU(1)
	c.Set("a", "x", 0)
	if v, ok := c.Get("a"); !ok || v != "x" {
		t.Fatalf("Get = %v, %v", v, ok)
	}
	c.Delete("a")
	c.Delete("a")
	if _, ok := c.Get("a"); ok {
		t.Fatal("deleted key still present")
	}
}

// cacheMutexMap is the baseline the benchmarks compare against: a plain map
// behind one mutex, with no bound and no recency tracking.
type cacheMutexMap struct {
	mu sync.Mutex
	m  map[string]any
}

func (c *cacheMutexMap) Get(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok
}

func (c *cacheMutexMap) Set(key string, value any, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = value
}

func (c *cacheMutexMap) Delete(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}

const (
	cacheBenchEntries = 1 << 12 // small enough to measure CPU, not DRAM latency
	cacheBenchStride  = 40503   // odd: i*stride mod 2^k visits every index
)

func cacheBenchImpls() []struct {
	name string
	new  func() Cache
} {
	return []struct {
		name string
		new  func() Cache
	}{
		{"LRU16", func() Cache { return cacheNewLRU(cacheBenchEntries, cacheShards) }},
		{"LRU1", func() Cache { return cacheNewLRU(cacheBenchEntries, 1) }},
		{"MutexMap", func() Cache { return &cacheMutexMap{m: map[string]any{}} }},
	}
}

func cacheBenchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	return keys
}

func BenchmarkCacheGetHit(b *testing.B) {
	keys := cacheBenchKeys(cacheBenchEntries / 2)
	for _, impl := range cacheBenchImpls() {
		b.Run(impl.name, func(b *testing.B) {
			c := impl.new()
			for _, k := range keys {
				c.Set(k, k, 0)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// An odd multiplier permutes the indexes, so reads do not
				// walk memory in insertion order.
				if _, ok := c.Get(keys[(i*cacheBenchStride)&(len(keys)-1)]); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
	}
}

func BenchmarkCacheGetMiss(b *testing.B) {
	keys := cacheBenchKeys(1024)
	for _, impl := range cacheBenchImpls() {
		b.Run(impl.name, func(b *testing.B) {
			c := impl.new()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c.Get(keys[i&1023])
				i++
			}
		})
	}
}

func BenchmarkCacheSet(b *testing.B) {
	// Twice the capacity, so the LRUs evict on most sets.
	keys := cacheBenchKeys(2 * cacheBenchEntries)
	var v any = 1
	for _, impl := range cacheBenchImpls() {
		b.Run(impl.name, func(b *testing.B) {
			c := impl.new()
			for _, k := range keys {
				c.Set(k, v, time.Minute)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c.Set(keys[(i*cacheBenchStride)&(len(keys)-1)], v, time.Minute)
				i++
			}
		})
	}
}

// BenchmarkCacheParallel runs 90% gets and 10% sets from every P, over a
// small key set (CPU-bound) and a large one (memory-bound, where lock hold
// times grow with cache misses and sharding matters most).
func BenchmarkCacheParallel(b *testing.B) {
	var v any = 1
	for _, n := range []int{1 << 12, 1 << 16} {
		keys := cacheBenchKeys(n)
		impls := []struct {
			name string
			c    Cache
		}{
			{"LRU16", cacheNewLRU(n, cacheShards)},
			{"LRU1", cacheNewLRU(n, 1)},
			{"MutexMap", &cacheMutexMap{m: map[string]any{}}},
		}
		for _, impl := range impls {
			b.Run(fmt.Sprintf("%s/keys=%d", impl.name, n), func(b *testing.B) {
				c := impl.c
				for _, k := range keys[:n/2] {
					c.Set(k, v, 0)
				}
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
					for pb.Next() {
						r := rng.Uint64()
						k := keys[(r>>32)&uint64(n-1)]
						if r%10 == 0 {
							c.Set(k, v, 0)
						} else {
							c.Get(k)
						}
					}
				})
			})
		}
	}
}
