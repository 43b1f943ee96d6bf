package rip

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// topkTestClock is a clock safe for concurrent use that only moves when told.
type topkTestClock struct{ ns atomic.Int64 }

var topkEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (c *topkTestClock) now() time.Time          { return topkEpoch.Add(time.Duration(c.ns.Load())) }
func (c *topkTestClock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func topkNewTestBlocker(l blockIPLevel, blockFor time.Duration, maxBlocked int) (*ipBlocker, *topkTestClock) {
	clock := &topkTestClock{}
	return newIPBlocker(l, blockFor, maxBlocked, clock.now), clock
}

// topkKey returns a distinct IPv4 key for n.
func topkKey(n uint32) [16]byte {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], n)
	return topkKeyFromAddr(netip.AddrFrom4(a))
}

func TestTopkKeyFromAddr(t *testing.T) {
	mapped := [16]byte{10: 0xff, 11: 0xff, 12: 192, 13: 0, 14: 2, 15: 1}
	tests := []struct {
		name string
		a, b string // b == "" compares a with want
		want [16]byte
		same bool
	}{
		{name: "ipv4 is 4-in-6", a: "192.0.2.1", want: mapped},
		{name: "mapped ipv6 equals ipv4", a: "::ffff:192.0.2.1", b: "192.0.2.1", same: true},
		{name: "ipv4 keeps all 32 bits", a: "192.0.2.1", b: "192.0.2.2", same: false},
		{name: "ipv6 same /64", a: "2001:db8:1:2::1", b: "2001:db8:1:2:ffff:ffff:ffff:ffff", same: true},
		{name: "ipv6 neighbour /64", a: "2001:db8:1:2::1", b: "2001:db8:1:3::1", same: false},
		{name: "ipv6 masked", a: "2001:db8:1:2:3:4:5:6",
			want: [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2}},
		{name: "zone ignored", a: "fe80::1%eth0", b: "fe80::2%eth1", same: true},
		{name: "ipv4 differs from ipv6 zero prefix", a: "0.0.0.1", b: "::1", same: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka := topkKeyFromAddr(netip.MustParseAddr(tt.a))
			if tt.b == "" {
				if ka != tt.want {
					t.Fatalf("key(%s) = %x, want %x", tt.a, ka, tt.want)
				}
				return
			}
			kb := topkKeyFromAddr(netip.MustParseAddr(tt.b))
			if (ka == kb) != tt.same {
				t.Fatalf("key(%s) = %x, key(%s) = %x; same = %v, want %v", tt.a, ka, tt.b, kb, ka == kb, tt.same)
			}
		})
	}
	if k := topkKeyFromAddr(netip.Addr{}); k != ([16]byte{}) {
		t.Errorf("zero Addr key = %x, want zero", k)
	}
}

func TestBlockIPLevels(t *testing.T) {
	// Thresholds from the restinpieces level table.
	want := map[string]uint32{"low": 250, "medium": 350, "high": 400}
	if len(blockIPLevels) != len(want) {
		t.Fatalf("%d levels, want %d", len(blockIPLevels), len(want))
	}
	for name, l := range blockIPLevels {
		if err := l.validate(); err != nil {
			t.Errorf("level %s invalid: %v", name, err)
		}
		if got := l.threshold(); got != want[name] {
			t.Errorf("level %s threshold = %d, want %d", name, got, want[name])
		}
	}
}

func TestBlockIPLevelValidate(t *testing.T) {
	ok := blockIPLevels["medium"]
	tests := []struct {
		name  string
		tweak func(*blockIPLevel)
	}{
		{"width not a power of two", func(l *blockIPLevel) { l.Width = 1000 }},
		{"width zero", func(l *blockIPLevel) { l.Width = 0 }},
		{"width too large", func(l *blockIPLevel) { l.Width = 2 * topkMaxWidth }},
		{"depth zero", func(l *blockIPLevel) { l.Depth = 0 }},
		{"depth too large", func(l *blockIPLevel) { l.Depth = topkMaxDepth + 1 }},
		{"tick zero", func(l *blockIPLevel) { l.TickRequests = 0 }},
		{"window zero", func(l *blockIPLevel) { l.WindowTicks = 0 }},
		{"window too large", func(l *blockIPLevel) { l.WindowTicks, l.TickRequests = 1024, 1025 }},
		{"share zero", func(l *blockIPLevel) { l.MaxShare = 0 }},
		{"share one", func(l *blockIPLevel) { l.MaxShare = 1 }},
		{"activation negative", func(l *blockIPLevel) { l.ActivationRPS = -1 }},
		{"k too small for share", func(l *blockIPLevel) { l.MaxShare, l.K = 0.2, 3 }},
		{"k zero", func(l *blockIPLevel) { l.K = 0 }},
		{"k too large", func(l *blockIPLevel) { l.K = topkMaxK + 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := ok
			tt.tweak(&l)
			if err := l.validate(); err == nil {
				t.Fatalf("validate(%+v) = nil, want an error", l)
			}
			defer func() {
				if recover() == nil {
					t.Fatal("newIPBlocker did not panic")
				}
			}()
			newIPBlocker(l, time.Minute, 10, nil)
		})
	}
}

// topkMix describes a simulated request mix per 100 requests: heavy keys'
// shares must be blocked, warm keys' shares must not, and the rest is
// uniform background over topkBackground distinct addresses.
type topkMix struct {
	heavy, warm []int
}

const topkBackground = 10_000

// run sends n requests in the mix at rps, shuffled within each block of 100
// so every tick sees the exact shares, and returns the keys ever refused.
func (m topkMix) run(t *testing.T, b *ipBlocker, clock *topkTestClock, rps float64, n int) map[[16]byte]bool {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	step := time.Duration(float64(time.Second) / rps)
	var period [][16]byte
	for i, share := range slices.Concat(m.heavy, m.warm) {
		for range share {
			period = append(period, topkKey(uint32(1_000_000+i)))
		}
	}
	background := 100 - len(period)
	refused := map[[16]byte]bool{}
	for sent := 0; sent < n; sent += 100 {
		block := slices.Clone(period)
		for range background {
			block = append(block, topkKey(uint32(rng.IntN(topkBackground))))
		}
		rng.Shuffle(len(block), func(i, j int) { block[i], block[j] = block[j], block[i] })
		for _, k := range block {
			clock.advance(step)
			if blocked, retry := b.check(k); blocked {
				refused[k] = true
				if retry <= 0 || retry > b.blockFor {
					t.Fatalf("retryAfter = %v, want in (0, %v]", retry, b.blockFor)
				}
			}
		}
	}
	return refused
}

func TestIPBlockerAccuracy(t *testing.T) {
	// Shares are per 100 requests and exact in every tick. Each heavy share
	// is above its level's MaxShare by at least 1 point, and each warm share
	// is well below, so both sides of the threshold are exercised. "high" is
	// the level that can hold three heavy hitters: at 35% or 50% three keys
	// cannot all exceed the share. The "high" mix: 30/25/22% against a 20%
	// threshold (600/500/440 of the 2000-request window against > 400), a
	// warm key at 10% (200), and 13% uniform background over 10,000
	// addresses, each of which sends about one request per 10 windows.
	tests := []struct {
		name    string
		level   string
		mix     topkMix
		rps     float64
		blocked int // the first `blocked` heavy keys; 0 below activation
	}{
		{name: "high three hitters", level: "high", mix: topkMix{heavy: []int{30, 25, 22}, warm: []int{10}}, rps: 2000, blocked: 3},
		{name: "high below activation", level: "high", mix: topkMix{heavy: []int{30, 25, 22}, warm: []int{10}}, rps: 900},
		{name: "medium two hitters", level: "medium", mix: topkMix{heavy: []int{40, 36}, warm: []int{15}}, rps: 600, blocked: 2},
		{name: "medium below activation", level: "medium", mix: topkMix{heavy: []int{40, 36}, warm: []int{15}}, rps: 400},
		{name: "low one hitter", level: "low", mix: topkMix{heavy: []int{51}, warm: []int{30}}, rps: 150, blocked: 1},
		{name: "low below activation", level: "low", mix: topkMix{heavy: []int{51}, warm: []int{30}}, rps: 90},
		{name: "high no hitter", level: "high", mix: topkMix{warm: []int{19, 19, 19, 19}}, rps: 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clock := topkNewTestBlocker(blockIPLevels[tt.level], time.Hour, 100)
			refused := tt.mix.run(t, b, clock, tt.rps, 100_000)
			want := map[[16]byte]bool{}
			for i := range tt.blocked {
				want[topkKey(uint32(1_000_000+i))] = true
			}
			for k := range refused {
				if !want[k] {
					t.Errorf("refused %x, which is not a heavy hitter", k)
				}
			}
			for k := range want {
				if !refused[k] {
					t.Errorf("heavy hitter %x was never refused", k)
				}
			}
			if got := b.blockedCount(); got != tt.blocked {
				t.Errorf("blockedCount = %d, want %d", got, tt.blocked)
			}
		})
	}
}

// topkFlood sends n requests from key at one per step and reports how many
// were refused.
func topkFlood(b *ipBlocker, clock *topkTestClock, key [16]byte, n int, step time.Duration) int {
	refused := 0
	for range n {
		clock.advance(step)
		if blocked, _ := b.check(key); blocked {
			refused++
		}
	}
	return refused
}

func TestIPBlockerExpiry(t *testing.T) {
	const blockFor = 10 * time.Second
	l := blockIPLevels["low"] // 100-request ticks, > 250 of 500 at ≥ 100 rps
	b, clock := topkNewTestBlocker(l, blockFor, 10)
	key := topkKey(1)
	// 300 requests at 1000 rps: ticks 1-2 have counts 100, 200; tick 3
	// ends with 300 > 250 and blocks on its last request.
	if refused := topkFlood(b, clock, key, 300, time.Millisecond); refused != 1 {
		t.Fatalf("refused %d of 300, want only the last one", refused)
	}
	blockedAt := clock.now()
	// Two more requests complete no tick, so nothing renews the block.
	clock.advance(blockFor - time.Nanosecond)
	if blocked, retry := b.check(key); !blocked || retry != time.Nanosecond {
		t.Fatalf("at %v: blocked=%v retry=%v, want true 1ns", clock.now().Sub(blockedAt), blocked, retry)
	}
	clock.advance(time.Nanosecond)
	if blocked, retry := b.check(key); blocked {
		t.Fatalf("at blockFor: still blocked, retry %v", retry)
	}
	if n := b.blockedCount(); n != 0 {
		t.Fatalf("blockedCount = %d after expiry, want 0", n)
	}
}

func TestIPBlockerFloodStaysBlocked(t *testing.T) {
	const blockFor = time.Second
	b, clock := topkNewTestBlocker(blockIPLevels["low"], blockFor, 10)
	key := topkKey(1)
	// 5000 requests at 1000 rps span 5 blockFor periods; every request
	// from the 300th on is refused because each busy tick renews the block.
	if refused := topkFlood(b, clock, key, 5000, time.Millisecond); refused != 5000-299 {
		t.Fatalf("refused %d, want %d", refused, 5000-299)
	}
	// It stops; other clients trickle in below the activation rate, and
	// the block lapses blockFor after the last busy tick.
	other := topkKey(2)
	topkFlood(b, clock, other, 100, 20*time.Millisecond) // one tick at 50 rps
	if blocked, _ := b.check(key); blocked {
		t.Fatal("still blocked more than blockFor after the flood stopped")
	}
}

func TestIPBlockerIPv6Prefix(t *testing.T) {
	base := netip.MustParseAddr("2001:db8:0:1::").As16()
	rotating := func(i int) netip.Addr {
		a := base
		binary.BigEndian.PutUint64(a[8:], uint64(i)*0x9e3779b97f4a7c15+1)
		return netip.AddrFrom16(a)
	}
	tests := []struct {
		name    string
		key     func(netip.Addr) [16]byte
		blocked bool
	}{
		{name: "keyed by /64", key: topkKeyFromAddr, blocked: true},
		// The control shows that rotation defeats full-address keys.
		{name: "keyed by full address", key: func(a netip.Addr) [16]byte { return a.As16() }, blocked: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clock := topkNewTestBlocker(blockIPLevels["low"], time.Hour, 10)
			// 60% of requests from a new address in one /64 each time, 40%
			// from distinct /64s, at 1000 rps.
			for i := range 2000 {
				clock.advance(time.Millisecond)
				if i%5 < 3 {
					b.check(tt.key(rotating(i)))
				} else {
					b.check(topkKeyFromAddr(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 1, byte(i >> 8), byte(i)})))
				}
			}
			blocked, _ := b.check(tt.key(netip.MustParseAddr("2001:db8:0:1::dead")))
			if blocked != tt.blocked {
				t.Errorf("fresh address in the rotating /64: blocked = %v, want %v", blocked, tt.blocked)
			}
			if blocked, _ := b.check(tt.key(netip.MustParseAddr("2001:db8:0:2::1"))); blocked {
				t.Error("neighbouring /64 is blocked")
			}
		})
	}
}

func TestIPBlockerMaxBlocked(t *testing.T) {
	const maxBlocked = 8
	b, clock := topkNewTestBlocker(blockIPLevels["low"], time.Hour, maxBlocked)
	// 50 keys flood one after another, each for a full window: each is
	// blocked, and the list keeps the latest maxBlocked.
	const keys = 50
	for i := range keys {
		if refused := topkFlood(b, clock, topkKey(uint32(i)), 500, time.Millisecond); refused == 0 {
			t.Fatalf("key %d was never blocked", i)
		}
		if n := b.blockedCount(); n > maxBlocked {
			t.Fatalf("after key %d: blockedCount = %d > %d", i, n, maxBlocked)
		}
	}
	if n := b.blockedCount(); n != maxBlocked {
		t.Fatalf("blockedCount = %d, want %d", n, maxBlocked)
	}
	b.mu.Lock()
	for i := range keys {
		_, ok := b.blocked.index[topkKey(uint32(i))]
		if want := i >= keys-maxBlocked; ok != want {
			t.Errorf("key %d on the list = %v, want %v (the first to expire is evicted)", i, ok, want)
		}
	}
	if len(b.blocked.heap) != len(b.blocked.index) || cap(b.blocked.heap) > 2*maxBlocked {
		t.Errorf("heap len %d cap %d, index %d", len(b.blocked.heap), cap(b.blocked.heap), len(b.blocked.index))
	}
	b.mu.Unlock()
}

func TestIPBlockerPrunesExpired(t *testing.T) {
	b, clock := topkNewTestBlocker(blockIPLevels["low"], 10*time.Second, 100)
	for i := range 5 {
		topkFlood(b, clock, topkKey(uint32(i)), 500, time.Millisecond)
	}
	if n := b.blockedCount(); n != 5 {
		t.Fatalf("blockedCount = %d, want 5", n)
	}
	clock.advance(time.Minute)
	// A quiet window of distinct clients (50 rps, below activation) pushes
	// the last flooder out, then a new one is blocked, which prunes the
	// five expired blocks.
	for i := range 500 {
		clock.advance(20 * time.Millisecond)
		b.check(topkKey(uint32(1000 + i)))
	}
	if n := b.blockedCount(); n != 5 {
		t.Fatalf("blockedCount = %d before the next block, want 5 (pruning is lazy)", n)
	}
	topkFlood(b, clock, topkKey(99), 500, time.Millisecond)
	if n := b.blockedCount(); n != 1 {
		t.Fatalf("blockedCount = %d after expiry and a new block, want 1 (expired pruned)", n)
	}
}

func TestTopkMemoryBound(t *testing.T) {
	for name, l := range blockIPLevels {
		t.Run(name, func(t *testing.T) {
			s := newTopkSketch(l)
			formula := 4*l.Depth*l.Width + 8*l.WindowTicks*l.TickRequests + 32*l.K
			if got := s.memoryBytes(); got < formula || got > formula+256 {
				t.Fatalf("memoryBytes = %d, want the documented %d plus the struct", got, formula)
			}
			if got := s.memoryBytes(); got > 100<<10 {
				t.Fatalf("memoryBytes = %d, more than 100 KiB", got)
			}
		})
	}
}

// TestIPBlockerConstantMemory feeds a million distinct addresses at a rate
// above activation and proves nothing grew: no allocation happened at all.
func TestIPBlockerConstantMemory(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	b, clock := topkNewTestBlocker(blockIPLevels["high"], time.Hour, 100)
	before := b.sketch.memoryBytes()
	counts, window := &b.sketch.counts[0], &b.sketch.window[0]
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := range n {
		clock.advance(time.Microsecond)
		if blocked, _ := b.check(topkKey(uint32(i))); blocked {
			t.Fatalf("distinct address %d blocked", i)
		}
	}
	runtime.ReadMemStats(&m1)
	// A few allocations may come from the runtime or the test framework;
	// one per tick (5000 of them) or per check would not fit under 100.
	if mallocs := m1.Mallocs - m0.Mallocs; mallocs >= 100 {
		t.Errorf("%d allocations over %d distinct addresses, want none", mallocs, n)
	}
	if after := b.sketch.memoryBytes(); after != before {
		t.Errorf("memoryBytes %d -> %d", before, after)
	}
	if &b.sketch.counts[0] != counts || &b.sketch.window[0] != window {
		t.Error("sketch storage was reallocated")
	}
	if len(b.sketch.top) > cap(b.sketch.top) || cap(b.sketch.top) != blockIPLevels["high"].K {
		t.Errorf("top len %d cap %d", len(b.sketch.top), cap(b.sketch.top))
	}
	if b.blockedCount() != 0 {
		t.Errorf("blockedCount = %d, want 0", b.blockedCount())
	}
}

func TestIPBlockerConcurrent(t *testing.T) {
	b, clock := topkNewTestBlocker(blockIPLevels["low"], time.Second, 4)
	done := make(chan int, 4)
	for g := range 4 {
		go func() {
			refused := 0
			for i := range 5000 {
				clock.advance(100 * time.Microsecond)
				key := topkKey(uint32(g*100_000 + i))
				if g == 0 {
					key = topkKey(7) // one goroutine is a heavy hitter
				}
				if blocked, _ := b.check(key); blocked {
					refused++
				}
			}
			done <- refused
		}()
	}
	heavyRefused := 0
	for range 4 {
		heavyRefused += <-done
	}
	if heavyRefused == 0 {
		t.Error("the heavy goroutine was never refused")
	}
	if n := b.blockedCount(); n > 4 {
		t.Errorf("blockedCount = %d > 4", n)
	}
}

// FuzzTopK drives a small sketch and a blocker with arbitrary key sequences
// and checks them against an exact count of the window: no panic, memory
// fixed, every row's counters add up to the window, counts never
// under-estimated, the candidate invariant, and the block list bound.
func FuzzTopK(f *testing.F) {
	f.Add([]byte{3, 1, 4, 2, 1, 0, 0, 0, 0, 1, 1, 1, 2, 3, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0})
	f.Add([]byte{4, 3, 7, 3, 3, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add(slices.Repeat([]byte{0x21, 0x42, 0x63, 0x84}, 64))
	// Width 1: every key collides, so a key's estimate is the whole window;
	// only the exact confirmation in heavy keeps "1" from being reported.
	f.Add([]byte("2001001"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 5 {
			return
		}
		l := blockIPLevel{
			Width:         1 << (data[0] % 5),
			Depth:         1 + int(data[1]%4),
			TickRequests:  1 + int(data[2]%8),
			WindowTicks:   1 + int(data[3]%4),
			K:             1 + int(data[4]%4),
			MaxShare:      0.5,
			ActivationRPS: 100,
		}
		data = data[5:]
		s := newTopkSketch(l)
		b, clock := topkNewTestBlocker(l, 50*time.Millisecond, 3)
		mem, counts := s.memoryBytes(), &s.counts[0]
		var ring [][16]byte // exact window, oldest first
		for _, c := range data {
			key := [16]byte{c & 0x1f}
			clock.advance(time.Duration(c>>5) * time.Millisecond)
			b.check(key)
			if n := b.blockedCount(); n > 3 {
				t.Fatalf("blockedCount = %d > 3", n)
			}

			h := s.hash(key)
			tick := s.add(key, h)
			ring = append(ring, key)
			topkFuzzCheckOffer(t, s, key, h)
			if tick {
				topkFuzzCheckHeavy(t, s, l.threshold(), ring)
				if len(ring) == l.WindowTicks*l.TickRequests {
					ring = ring[l.TickRequests:]
				}
				s.slide()
			}
			topkFuzzCheckWindow(t, s, l, ring)
		}
		if s.memoryBytes() != mem || &s.counts[0] != counts {
			t.Fatal("sketch memory changed")
		}
	})
}

func topkFuzzCheckOffer(t *testing.T, s *topkSketch, key [16]byte, h uint64) {
	t.Helper()
	est := s.estimate(h)
	if slices.ContainsFunc(s.top, func(c topkCandidate) bool { return c.key == key }) {
		return
	}
	if len(s.top) < cap(s.top) {
		t.Fatalf("key %x left out with %d of %d slots used", key, len(s.top), cap(s.top))
	}
	for _, c := range s.top {
		if c.count < est {
			t.Fatalf("key %x (estimate %d) left out while candidate %x has %d", key, est, c.key, c.count)
		}
	}
}

// topkFuzzCheckHeavy checks that heavy returns exactly the candidates whose
// true window count exceeds threshold.
func topkFuzzCheckHeavy(t *testing.T, s *topkSketch, threshold uint32, ring [][16]byte) {
	t.Helper()
	exact := map[[16]byte]uint32{}
	for _, k := range ring {
		exact[k]++
	}
	got := s.heavy(threshold, nil)
	for _, c := range s.top {
		if want := exact[c.key] > threshold; slices.Contains(got, c.key) != want {
			t.Fatalf("candidate %x (exact %d, threshold %d): reported %v, want %v",
				c.key, exact[c.key], threshold, !want, want)
		}
	}
	for _, k := range got {
		if !slices.ContainsFunc(s.top, func(c topkCandidate) bool { return c.key == k }) {
			t.Fatalf("heavy returned %x, not a candidate", k)
		}
	}
}

func topkFuzzCheckWindow(t *testing.T, s *topkSketch, l blockIPLevel, ring [][16]byte) {
	t.Helper()
	if s.filled != len(ring) {
		t.Fatalf("filled = %d, exact window %d", s.filled, len(ring))
	}
	for r := range l.Depth {
		sum := 0
		for _, c := range s.counts[r*l.Width : (r+1)*l.Width] {
			sum += int(c)
		}
		if sum != len(ring) {
			t.Fatalf("row %d adds up to %d, window holds %d", r, sum, len(ring))
		}
	}
	exact := map[[16]byte]uint32{}
	for _, k := range ring {
		exact[k]++
	}
	for k, n := range exact {
		if est := s.estimate(s.hash(k)); est < n {
			t.Fatalf("estimate %d < exact %d for %x", est, n, k)
		}
	}
	if len(s.top) > cap(s.top) || cap(s.top) != l.K {
		t.Fatalf("top len %d cap %d, K %d", len(s.top), cap(s.top), l.K)
	}
}

func BenchmarkIPBlockerCheck(b *testing.B) {
	keys := make([][16]byte, 4096)
	for i := range keys {
		keys[i] = topkKey(uint32(i * 7919))
	}
	l := blockIPLevels["high"]
	b.Run("not-blocked", func(b *testing.B) {
		bl := newIPBlocker(l, time.Minute, 100, time.Now)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if blocked, _ := bl.check(keys[i&4095]); blocked {
				b.Fatal("blocked")
			}
			i++
		}
	})
	b.Run("blocked", func(b *testing.B) {
		bl, clock := topkNewTestBlocker(l, time.Hour, 100)
		key := topkKey(1)
		topkFlood(bl, clock, key, 2000, time.Microsecond)
		b.ReportAllocs()
		for b.Loop() {
			if blocked, _ := bl.check(key); !blocked {
				b.Fatal("not blocked")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		bl := newIPBlocker(l, time.Minute, 100, time.Now)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(4096)
			for pb.Next() {
				bl.check(keys[i&4095])
				i++
			}
		})
	})
	b.Run("parallel-some-blocked", func(b *testing.B) {
		// One key in 16 is blocked, so every check consults the list.
		bl, clock := topkNewTestBlocker(l, time.Hour, 100)
		topkFlood(bl, clock, keys[0], 2000, time.Microsecond)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(4096)
			for pb.Next() {
				bl.check(keys[i&15])
				i++
			}
		})
	})
}

// BenchmarkIPBlockerTick times one whole busy tick (TickRequests checks and
// the tick's end, which finds and re-blocks a heavy hitter); tick-ns/req
// minus the not-blocked check cost is the tick's share per request.
func BenchmarkIPBlockerTick(b *testing.B) {
	l := blockIPLevels["high"]
	bl, clock := topkNewTestBlocker(l, time.Hour, 100)
	keys := make([][16]byte, l.TickRequests)
	for i := range keys {
		keys[i] = topkKey(uint32(i))
		if i%2 == 0 {
			keys[i] = topkKey(1_000_000) // a 50% heavy hitter
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		clock.advance(time.Millisecond)
		for _, k := range keys {
			bl.check(k)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*l.TickRequests), "ns/req")
}
