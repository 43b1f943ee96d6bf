package rip

import (
	"container/heap"
	"fmt"
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"time"
	"unsafe"
)

// topkKeyFromAddr returns the key under which BlockIp counts a client
// address: an IPv4 address (or an IPv4-mapped IPv6 address) as its 16-byte
// IPv4-mapped form, and an IPv6 address masked to its /64 prefix. The zone is
// ignored. The zero [netip.Addr] maps to the zero key.
//
// # Security
//
// One IPv6 subscriber is usually handed a whole /64, so counting full IPv6
// addresses would let a single client rotate through 2^64 addresses and never
// look heavy. Unmapping first stops a client from splitting its count between
// 1.2.3.4 and ::ffff:1.2.3.4.
func topkKeyFromAddr(addr netip.Addr) [16]byte {
	addr = addr.Unmap()
	if !addr.IsValid() {
		return [16]byte{}
	}
	key := addr.As16()
	if addr.Is6() {
		clear(key[8:])
	}
	return key
}

// blockIPLevel sizes the heavy-hitter sketch and sets its two gates. A tick
// is TickRequests requests; the window is the last WindowTicks ticks. At the
// end of a tick whose rate reached ActivationRPS, every key counted more than
// WindowTicks×TickRequests×MaxShare times in the window is blocked.
type blockIPLevel struct {
	K             int     // heavy-hitter candidates kept; at least ⌈1/MaxShare⌉-1
	WindowTicks   int     // ticks in the sliding window
	TickRequests  int     // requests per tick
	Width         int     // count-min counters per row; a power of two
	Depth         int     // count-min rows
	ActivationRPS float64 // requests per second below which nobody is blocked
	MaxShare      float64 // share of the window above which a key is blocked, in (0, 1)
}

// blockIPLevels are the block_ip.level presets, the same numbers as
// restinpieces' so that a level name means the same load in both.
var blockIPLevels = map[string]blockIPLevel{
	"low":    {K: 2, WindowTicks: 5, TickRequests: 100, Width: 256, Depth: 2, ActivationRPS: 100, MaxShare: 0.50},
	"medium": {K: 3, WindowTicks: 10, TickRequests: 100, Width: 1024, Depth: 3, ActivationRPS: 500, MaxShare: 0.35},
	"high":   {K: 5, WindowTicks: 10, TickRequests: 200, Width: 4096, Depth: 4, ActivationRPS: 1000, MaxShare: 0.20},
}

const (
	// topkMaxWidth caps counters per row (16 Mi counters × 4 B = 64 MiB).
	topkMaxWidth = 1 << 24
	// topkMaxDepth caps the rows; more than a handful buys nothing.
	topkMaxDepth = 8
	// topkMaxK caps the candidates, which are scanned linearly per request.
	topkMaxK = 16
	// topkMaxWindowRequests caps WindowTicks×TickRequests (8 B each: 8 MiB).
	topkMaxWindowRequests = 1 << 20
	// blockIPDefaultBlockFor is how long a heavy hitter is refused when
	// newIPBlocker is given no duration: restinpieces' fixed 3 minutes.
	blockIPDefaultBlockFor = 3 * time.Minute
	// blockIPDefaultMaxBlocked bounds the block list when newIPBlocker is
	// given no bound.
	blockIPDefaultMaxBlocked = 10_000
)

// validate reports the first reason l cannot size a sketch.
func (l blockIPLevel) validate() error {
	switch {
	case l.Width < 1 || l.Width > topkMaxWidth || l.Width&(l.Width-1) != 0:
		return fmt.Errorf("width %d is not a power of two in [1, %d]", l.Width, topkMaxWidth)
	case l.Depth < 1 || l.Depth > topkMaxDepth:
		return fmt.Errorf("depth %d is not in [1, %d]", l.Depth, topkMaxDepth)
	case l.TickRequests < 1 || l.WindowTicks < 1 || l.TickRequests*l.WindowTicks > topkMaxWindowRequests:
		return fmt.Errorf("window of %d ticks of %d requests is not in [1, %d] requests",
			l.WindowTicks, l.TickRequests, topkMaxWindowRequests)
	case !(l.MaxShare > 0 && l.MaxShare < 1):
		return fmt.Errorf("max share %v is not in (0, 1)", l.MaxShare)
	case !(l.ActivationRPS >= 0) || math.IsInf(l.ActivationRPS, 0):
		return fmt.Errorf("activation rate %v is not a finite non-negative number", l.ActivationRPS)
	case l.K > topkMaxK || l.K < int(math.Ceil(1/l.MaxShare))-1 || l.K < 1:
		// At most ⌈1/share⌉-1 keys can each hold more than share of the
		// window, so K candidates can hold every one of them.
		return fmt.Errorf("k %d cannot hold every key above share %v (need %d..%d)",
			l.K, l.MaxShare, max(1, int(math.Ceil(1/l.MaxShare))-1), topkMaxK)
	}
	return nil
}

// threshold is the windowed count a key must exceed to be blocked.
func (l blockIPLevel) threshold() uint32 {
	// The epsilon absorbs float error such as 1000×0.35 = 350.00000000000006
	// or 349.99999999999994, so the table's "> 350" holds exactly.
	return uint32(math.Floor(float64(l.WindowTicks*l.TickRequests)*l.MaxShare + 1e-9))
}

// topkSketch counts keys over a sliding window of the last W ticks of T
// requests each, and keeps the K keys with the highest counts as candidates.
// It is not safe for concurrent use; [ipBlocker] locks around it.
//
// Design. Counting is a count-min sketch (Depth rows of Width counters; a
// key's count is the minimum of its Depth counters), which never
// under-estimates and over-estimates only through hash collisions. The window
// is exact rather than decayed: a ring remembers the 64-bit hash of each of
// the last W×T requests, and when a tick ends with the window full, the
// oldest tick's T hashes are subtracted again. Because plain count-min
// updates are linear, the counters then equal exactly the sketch of the
// requests in the window, so "more than 35% of the last 1000 requests" means
// what it says. (Conservative update would over-estimate less, but it is not
// reversible, and decay-based windows such as HeavyKeeper's blur the window.)
// Per-tick sketches in a ring would also be exact but cost W times the
// counters; the hash ring costs 8 bytes per request in the window.
//
// The candidates are a K-slot array updated on every add with the key's new
// estimate: a key already there takes its new count, a new key takes a free
// slot or replaces the smallest count if its own is larger. After each slide
// every candidate is re-estimated and those that fell to zero leave. So after
// every add the key is a candidate or all K candidates are counted at least
// as high, and within a tick the smallest candidate count never falls. A key
// above the block threshold that sent a request in the tick is therefore a
// candidate at the tick's end, or K other keys are estimated above the
// threshold too. With K ≥ ⌈1/share⌉-1, the most keys that can truly exceed
// the share, that happens only through collision over-estimates.
//
// The sketch nominates and the ring decides: [topkSketch.heavy] confirms
// each nominee by counting its hash in the ring (W×T comparisons, only for
// candidates whose estimate is above the threshold, only at the end of a busy
// tick). So the over-estimates of a small sketch can cost a heavy hitter its
// slot but never get an innocent key blocked. Without this check, 10,000
// background clients (TestIPBlockerAccuracy) got an innocent one blocked in
// 8 of 40 runs at the "low" level (256×2 counters) and 3 of 40 at "medium";
// with it, in none.
//
// Memory is fixed at construction and never grows, whatever the keys:
//
//	4·Depth·Width + 8·W·T + 32·K bytes (+ slice headers)
//
// which is 2 KiB + 4 KiB for "low", 12 KiB + 8 KiB for "medium" and 64 KiB +
// 16 KiB for "high". See [topkSketch.memoryBytes] and its test.
type topkSketch struct {
	seed     maphash.Seed
	depth    int
	mask     uint64
	counts   []uint32 // Depth rows of Width counters
	window   []uint64 // hashes of the last W×T requests, a ring
	tickSize int
	next     int             // ring slot the next request goes to
	filled   int             // ring slots holding a counted request
	top      []topkCandidate // len ≤ K = cap(top)
}

// topkCandidate is one possible heavy hitter and its last estimate.
type topkCandidate struct {
	key   [16]byte
	hash  uint64
	count uint32
}

func newTopkSketch(l blockIPLevel) *topkSketch {
	return &topkSketch{
		seed:     maphash.MakeSeed(),
		depth:    l.Depth,
		mask:     uint64(l.Width - 1),
		counts:   make([]uint32, l.Depth*l.Width),
		window:   make([]uint64, l.WindowTicks*l.TickRequests),
		tickSize: l.TickRequests,
		top:      make([]topkCandidate, 0, l.K),
	}
}

// hash returns the seeded 64-bit hash of key. It reads only the immutable
// seed, so callers may compute it before taking a lock.
//
// # Security
//
// The seed is random per sketch, so a client cannot choose addresses that
// share a victim's counters (to push the victim's estimate up and take
// candidate slots) or its whole 64-bit hash (which [topkSketch.heavy] would
// count as the victim's), nor pile its own addresses into few counters.
func (s *topkSketch) hash(key [16]byte) uint64 {
	return maphash.Comparable(s.seed, key)
}

// cell returns the index of key's counter in row r. The Depth indexes come
// from one 64-bit hash by double hashing (h1 + r·h2); h2 is odd, so with a
// power-of-two width a key's column differs in every row.
func (s *topkSketch) cell(h uint64, r int) int {
	h1, h2 := h, (h>>32)|1
	return r*int(s.mask+1) + int((h1+uint64(r)*h2)&s.mask)
}

// estimate returns the count-min estimate for a key's hash: at least the
// key's true count in the window.
func (s *topkSketch) estimate(h uint64) uint32 {
	est := uint32(math.MaxUint32)
	for r := range s.depth {
		est = min(est, s.counts[s.cell(h, r)])
	}
	return est
}

// add counts one request from key (whose hash is h) and reports whether it
// completed a tick; the caller must then call slide.
func (s *topkSketch) add(key [16]byte, h uint64) (tickDone bool) {
	est := uint32(math.MaxUint32)
	for r := range s.depth {
		c := &s.counts[s.cell(h, r)]
		*c++
		est = min(est, *c)
	}
	s.window[s.next] = h
	s.next++
	if s.next == len(s.window) {
		s.next = 0
	}
	s.filled++
	s.offer(key, h, est)
	return s.next%s.tickSize == 0
}

// offer updates the candidates with key's new estimate.
func (s *topkSketch) offer(key [16]byte, h uint64, est uint32) {
	low := -1
	for i := range s.top {
		if s.top[i].hash == h && s.top[i].key == key {
			s.top[i].count = est
			return
		}
		if low < 0 || s.top[i].count < s.top[low].count {
			low = i
		}
	}
	if len(s.top) < cap(s.top) {
		s.top = append(s.top, topkCandidate{key: key, hash: h, count: est})
		return
	}
	if est > s.top[low].count {
		s.top[low] = topkCandidate{key: key, hash: h, count: est}
	}
}

// heavy appends to dst every candidate counted more than threshold times in
// the window, and returns it. The sketch only nominates: a candidate whose
// estimate exceeds threshold is confirmed by counting its hash in the window
// ring, so a collision in the sketch never blocks an innocent key.
func (s *topkSketch) heavy(threshold uint32, dst [][16]byte) [][16]byte {
	for i := range s.top {
		c := &s.top[i]
		c.count = s.estimate(c.hash)
		if c.count > threshold && s.exact(c.hash) > threshold {
			dst = append(dst, c.key)
		}
	}
	return dst
}

// exact returns how many requests in the window have hash h: the key's true
// count, unless two keys share all 64 bits of a seeded hash.
func (s *topkSketch) exact(h uint64) uint32 {
	// The filled slots are the s.filled before next, wrapping around.
	newer, older := s.window[:s.next], s.window[:0]
	if start := s.next - s.filled; start >= 0 {
		newer = s.window[start:s.next]
	} else {
		older = s.window[start+len(s.window):]
	}
	var n uint32
	for _, part := range [2][]uint64{older, newer} {
		for _, x := range part {
			if x == h {
				n++
			}
		}
	}
	return n
}

// slide ends a tick: when the window is full it subtracts the oldest tick,
// whose slots the next tick will overwrite, and then re-estimates the
// candidates, dropping those no longer counted.
func (s *topkSketch) slide() {
	if s.filled == len(s.window) {
		for _, h := range s.window[s.next : s.next+s.tickSize] {
			for r := range s.depth {
				s.counts[s.cell(h, r)]--
			}
		}
		s.filled -= s.tickSize
	}
	kept := s.top[:0]
	for _, c := range s.top {
		c.count = s.estimate(c.hash)
		if c.count > 0 {
			kept = append(kept, c)
		}
	}
	clear(s.top[len(kept):])
	s.top = kept
}

// memoryBytes returns the bytes the sketch holds, which is fixed at
// construction: the doc comment's formula.
func (s *topkSketch) memoryBytes() int {
	return int(unsafe.Sizeof(*s)) +
		cap(s.counts)*int(unsafe.Sizeof(s.counts[0])) +
		cap(s.window)*int(unsafe.Sizeof(s.window[0])) +
		cap(s.top)*int(unsafe.Sizeof(topkCandidate{}))
}

// ipBlocker is BlockIp's decision logic: it counts every request by client
// key in a [topkSketch] and refuses keys that took more than their share of a
// busy window. It is safe for concurrent use.
//
// At the end of each tick (every TickRequests requests) the tick's rate is
// TickRequests divided by the time since the previous tick ended. Below
// ActivationRPS the window only slides: a quiet server blocks nobody. At or
// above it, every candidate counted more than the level's threshold is
// blocked until now+blockFor, or has its block extended to then. Blocked
// keys' requests are still counted, so a client that keeps flooding while
// blocked stays blocked, and one that stops is released blockFor after the
// last tick that found it heavy.
//
// Blocks are kept synchronously in a list of at most maxBlocked keys, a
// min-heap by expiry with a map index: expired entries are pruned whenever a
// block is added, and when the list is full the block expiring first makes
// room for the new one. Nothing is written to the DB or the cache.
//
// Locking. One mutex guards the sketch and the block list; the critical
// section is a few counter increments (Depth ≤ 4), a ring write and a scan of
// K ≤ 5 candidates, and the hash is computed before locking. Measured on the
// 2-core development machine: about 60 ns per check from one goroutine and
// 75 to 90 ns per check with two under RunParallel (BenchmarkIPBlockerCheck),
// inside the 150 ns budget, so the simple design stays. The alternatives
// were rejected for their semantics: sharding the sketch by key would make
// each shard's window a share of that shard's traffic rather than the
// server's (inflating every share by the shard count), and per-goroutine
// buffers flushed under a try-lock would move tick boundaries and let a
// burst straddle a tick unseen.
//
// # Security
//
// The threat is one client (an IPv4 address or an IPv6 /64, see
// [topkKeyFromAddr]) taking a large share of a busy server. Memory is fixed
// whatever clients send: the sketch by its level (see [topkSketch]), the
// block list by maxBlocked (about 100 bytes per blocked key in the heap and
// its map index), so rotating addresses grows nothing. A count-min sketch only
// over-estimates, so collisions can only make an innocent key look heavier;
// every block is confirmed by an exact count of the window first (see
// [topkSketch]), and the seeded hash keeps clients from aiming collisions.
// The key must come from the trusted client-IP logic, or a reverse proxy's
// address is what gets blocked.
type ipBlocker struct {
	level     blockIPLevel
	threshold uint32
	blockFor  time.Duration
	now       func() time.Time

	mu        sync.Mutex
	sketch    *topkSketch
	tickStart time.Time
	blocked   blockIPList
	heavyBuf  [][16]byte // reused by endTickLocked; cap K
}

// newIPBlocker returns a blocker for level. A blockFor ≤ 0 means
// blockIPDefaultBlockFor and a maxBlocked < 1 means blockIPDefaultMaxBlocked.
// It panics if level is invalid: levels come from [blockIPLevels] or from a
// configuration that was validated with [blockIPLevel.validate].
func newIPBlocker(level blockIPLevel, blockFor time.Duration, maxBlocked int, now func() time.Time) *ipBlocker {
	if err := level.validate(); err != nil {
		panic("rip: invalid block_ip level: " + err.Error())
	}
	if blockFor <= 0 {
		blockFor = blockIPDefaultBlockFor
	}
	if maxBlocked < 1 {
		maxBlocked = blockIPDefaultMaxBlocked
	}
	if now == nil {
		now = time.Now
	}
	return &ipBlocker{
		level:     level,
		threshold: level.threshold(),
		blockFor:  blockFor,
		now:       now,
		sketch:    newTopkSketch(level),
		tickStart: now(),
		blocked:   blockIPList{max: maxBlocked, index: make(map[[16]byte]int)},
		heavyBuf:  make([][16]byte, 0, level.K),
	}
}

// check records one request from key and says whether it must be refused
// and for how long (positive when blocked; a Retry-After header should round
// it up to whole seconds). Refused requests are counted too. The clock is
// read only when a tick ends or key is on the block list.
//
// # Security
//
// This is the hot path of every request: it takes constant amortized time
// (the end of a tick costs O(T·Depth + K·W·T), spread over its T requests)
// and bounded memory: it allocates only when a new key joins the block
// list, which holds at most maxBlocked. A flood costs the server a lock and a
// few counter increments per request, blocked or not.
func (b *ipBlocker) check(key [16]byte) (blocked bool, retryAfter time.Duration) {
	h := b.sketch.hash(key)
	b.mu.Lock()
	defer b.mu.Unlock()
	var now time.Time
	if b.sketch.add(key, h) {
		now = b.now()
		b.endTickLocked(now)
	}
	if len(b.blocked.index) == 0 {
		return false, 0
	}
	i, ok := b.blocked.index[key]
	if !ok {
		return false, 0
	}
	if now.IsZero() {
		now = b.now()
	}
	until := b.blocked.heap[i].until
	if !now.Before(until) {
		heap.Remove(&b.blocked, i)
		return false, 0
	}
	return true, until.Sub(now)
}

// endTickLocked applies the two gates to the tick that just ended and slides
// the window.
func (b *ipBlocker) endTickLocked(now time.Time) {
	elapsed := now.Sub(b.tickStart)
	b.tickStart = now
	// elapsed ≤ 0 (a coarse or stepped clock) counts as an infinite rate.
	busy := elapsed <= 0 || float64(b.level.TickRequests) >= b.level.ActivationRPS*elapsed.Seconds()
	if busy {
		b.heavyBuf = b.sketch.heavy(b.threshold, b.heavyBuf[:0])
		if len(b.heavyBuf) > 0 {
			b.blocked.prune(now)
			for _, key := range b.heavyBuf {
				b.blocked.block(key, now.Add(b.blockFor))
			}
		}
	}
	b.sketch.slide()
}

// blockedCount returns the number of keys on the block list, including
// expired ones not yet pruned.
func (b *ipBlocker) blockedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.blocked.index)
}

// blockIPList is the bounded block list: a min-heap of blocks by expiry
// (it implements [heap.Interface]) and an index from key to heap position.
type blockIPList struct {
	max   int
	index map[[16]byte]int
	heap  []blockIPEntry
}

type blockIPEntry struct {
	key   [16]byte
	until time.Time
}

// block adds key until the given time, or moves an existing block's expiry
// to it. When the list is full, the block expiring first is dropped.
func (l *blockIPList) block(key [16]byte, until time.Time) {
	if i, ok := l.index[key]; ok {
		l.heap[i].until = until
		heap.Fix(l, i)
		return
	}
	if len(l.heap) >= l.max {
		heap.Pop(l)
	}
	heap.Push(l, blockIPEntry{key: key, until: until})
}

// prune drops every block that has expired at now.
func (l *blockIPList) prune(now time.Time) {
	for len(l.heap) > 0 && !now.Before(l.heap[0].until) {
		heap.Pop(l)
	}
}

func (l *blockIPList) Len() int           { return len(l.heap) }
func (l *blockIPList) Less(i, j int) bool { return l.heap[i].until.Before(l.heap[j].until) }

func (l *blockIPList) Swap(i, j int) {
	l.heap[i], l.heap[j] = l.heap[j], l.heap[i]
	l.index[l.heap[i].key] = i
	l.index[l.heap[j].key] = j
}

func (l *blockIPList) Push(x any) {
	e := x.(blockIPEntry)
	l.index[e.key] = len(l.heap)
	l.heap = append(l.heap, e)
}

func (l *blockIPList) Pop() any {
	e := l.heap[len(l.heap)-1]
	l.heap = l.heap[:len(l.heap)-1]
	delete(l.index, e.key)
	return e
}
