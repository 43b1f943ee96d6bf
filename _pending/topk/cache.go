package rip

import (
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// Cache is the in-process cache rip and its handlers share. It is one of the
// few replaceable parts: an application may supply its own implementation
// (for example one with byte-size accounting) in place of the default [LRU].
//
// Implementations must be safe for concurrent use. A value read with Get must
// not be modified by the caller unless the application owns that convention.
type Cache interface {
	// Get returns the value stored under key and whether it was present and
	// not expired.
	Get(key string) (any, bool)
	// Set stores value under key, replacing any earlier value. A ttl less
	// than or equal to zero means the entry never expires; it may still be
	// evicted to make room.
	Set(key string, value any, ttl time.Duration)
	// Delete removes key. Deleting a missing key is not an error.
	Delete(key string)
}

const (
	// cacheDefaultEntries is the capacity [NewLRU] uses when asked for less
	// than one entry.
	cacheDefaultEntries = 10_000
	// cacheMaxEntries caps the capacity so entry indexes fit in an int32.
	cacheMaxEntries = 1 << 30
	// cacheShards is the number of independently locked shards of a large
	// [LRU]. A power of two, so a hash selects a shard with a mask.
	cacheShards = 16
	// cacheMinShardEntries is the smallest per-shard capacity worth
	// sharding for: below cacheShards×cacheMinShardEntries entries an LRU
	// keeps one shard, so small caches evict in exact LRU order.
	cacheMinShardEntries = 1024
)

// LRU is the default [Cache]: a bounded least-recently-used map with an
// optional time to live per entry. It is safe for concurrent use, and Get,
// Set and Delete take constant time. Create one with [NewLRU]; the zero LRU
// is not usable.
//
// A cache of at least 16,384 entries is split into 16 shards selected by a
// seeded hash of the key, each with its own mutex and an equal part of the
// capacity, because Get moves an entry to the front of its list and so must
// lock exclusively: with one lock, parallel readers queue behind each other.
// On the 2-core development machine sharding made a parallel 90% read mix
// 1.2 to 2 times faster (BenchmarkCacheParallel, LRU16 against LRU1); single
// threaded it costs one hash, about 10 ns. Eviction is then exact LRU within a shard and approximate across
// the cache. Smaller caches keep one shard and exact LRU order.
//
// The total number of entries never exceeds the capacity given to [NewLRU].
// Expired entries are dropped when they are read or when they reach the least
// recently used end of their shard; until then they only occupy a slot.
//
// # Security
//
// Keys may come from clients (rate-limit buckets, e-mail addresses), so the
// shard is chosen with a per-cache random [maphash.Seed] and the Go map within
// a shard is itself seeded: an attacker cannot aim many keys at one shard or
// bucket. Memory is bounded by the entry count, never by what clients send;
// the size of each key and value is the caller's responsibility.
type LRU struct {
	// now is the clock used for expiry; tests replace it.
	now    func() time.Time
	seed   maphash.Seed
	mask   uint64
	shards []cacheShard
}

// cacheShard is one independently locked LRU list. The list is a ring of
// entries linked by index; entries[0] is the sentinel, whose next is the most
// recently used entry and whose prev the least recently used one.
type cacheShard struct {
	mu       sync.Mutex
	index    map[string]int32
	entries  []cacheEntry
	free     int32 // first free slot, linked through next; 0 when none
	capacity int
	// _ keeps neighbouring shards' mutexes off one cache line.
	_ [64]byte
}

type cacheEntry struct {
	key        string
	value      any
	expires    int64 // unix nanoseconds; 0 means never
	prev, next int32
}

// NewLRU returns an empty [LRU] holding at most maxEntries entries. Less than
// one means 10,000 (cacheDefaultEntries); more than 2^30 is capped.
func NewLRU(maxEntries int) *LRU {
	if maxEntries < 1 {
		maxEntries = cacheDefaultEntries
	}
	maxEntries = min(maxEntries, cacheMaxEntries)
	n := 1
	if maxEntries >= cacheShards*cacheMinShardEntries {
		n = cacheShards
	}
	return cacheNewLRU(maxEntries, n)
}

// cacheNewLRU builds an [LRU] of n shards, n a power of two; benchmarks use it
// to compare shard counts.
func cacheNewLRU(maxEntries, n int) *LRU {
	c := &LRU{
		now:    time.Now,
		seed:   maphash.MakeSeed(),
		mask:   uint64(n - 1),
		shards: make([]cacheShard, n),
	}
	for i := range c.shards {
		// Spread the remainder so the parts add up to maxEntries exactly.
		part := maxEntries / n
		if i < maxEntries%n {
			part++
		}
		c.shards[i].init(part)
	}
	return c
}

func (s *cacheShard) init(capacity int) {
	s.capacity = capacity
	s.index = make(map[string]int32)
	s.entries = make([]cacheEntry, 1, 1+min(capacity, 64))
}

// Get implements [Cache].
func (c *LRU) Get(key string) (any, bool) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.index[key]
	if !ok {
		return nil, false
	}
	e := &s.entries[i]
	if e.expires != 0 && c.now().UnixNano() >= e.expires {
		s.removeLocked(i)
		return nil, false
	}
	s.unlinkLocked(i)
	s.pushFrontLocked(i)
	return e.value, true
}

// Set implements [Cache].
func (c *LRU) Set(key string, value any, ttl time.Duration) {
	var expires int64
	if ttl > 0 {
		expires = cacheExpiry(c.now().UnixNano(), ttl)
	}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.index[key]
	if ok {
		s.unlinkLocked(i)
	} else {
		i = s.slotLocked()
		s.index[key] = i
	}
	s.entries[i].key, s.entries[i].value, s.entries[i].expires = key, value, expires
	s.pushFrontLocked(i)
}

// Delete implements [Cache].
func (c *LRU) Delete(key string) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.index[key]; ok {
		s.removeLocked(i)
	}
}

// len reports the number of entries, expired ones included.
func (c *LRU) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.index)
		s.mu.Unlock()
	}
	return n
}

// cacheExpiry returns now+ttl in unix nanoseconds, saturating instead of
// wrapping for absurdly long ttls.
func cacheExpiry(now int64, ttl time.Duration) int64 {
	if int64(ttl) > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + int64(ttl)
}

func (c *LRU) shard(key string) *cacheShard {
	if c.mask == 0 {
		return &c.shards[0]
	}
	return &c.shards[maphash.String(c.seed, key)&c.mask]
}

// slotLocked returns an unlinked entry slot for a new key: a free one, a
// fresh one while below capacity, or else the least recently used entry,
// which it evicts.
func (s *cacheShard) slotLocked() int32 {
	if i := s.free; i != 0 {
		s.free = s.entries[i].next
		return i
	}
	if len(s.entries)-1 < s.capacity {
		s.entries = append(s.entries, cacheEntry{})
		return int32(len(s.entries) - 1)
	}
	i := s.entries[0].prev
	delete(s.index, s.entries[i].key)
	s.unlinkLocked(i)
	return i
}

// removeLocked deletes entry i and puts its slot on the free list, dropping
// its key and value so the garbage collector can reclaim them.
func (s *cacheShard) removeLocked(i int32) {
	delete(s.index, s.entries[i].key)
	s.unlinkLocked(i)
	s.entries[i] = cacheEntry{next: s.free}
	s.free = i
}

func (s *cacheShard) unlinkLocked(i int32) {
	e := &s.entries[i]
	s.entries[e.prev].next = e.next
	s.entries[e.next].prev = e.prev
}

func (s *cacheShard) pushFrontLocked(i int32) {
	head := &s.entries[0]
	s.entries[i].prev, s.entries[i].next = 0, head.next
	s.entries[head.next].prev = i
	head.next = i
}
