package rip

import (
	"bytes"
	"hash/maphash"
	"regexp"
	"regexp/syntax"
	"sync/atomic"
)

// uaMatcher is block_ua_list.list compiled for the request path. Go's
// regexp is linear but slow on an alternation of words: about 30 µs for a
// browser User-Agent and 300 µs for 512 bytes on the development machine,
// which would make the UA check the costliest thing rip does per request
// and a CPU lever for anyone sending long User-Agents. A block-list is
// nearly always a set of words, so when the pattern denotes a finite set
// of ASCII strings (literals, alternations, concatenations, small
// classes, all case-sensitive or all case-insensitive), matching becomes
// "the User-Agent contains one of them", which is what the unanchored
// regexp means, at a few hundred nanoseconds. Any other pattern, and any
// non-ASCII User-Agent under a case-insensitive list (Unicode case
// folding), goes to the regexp. FuzzUAMatcher checks both agree.
type uaMatcher struct {
	re   *regexp.Regexp
	lits [][]byte // nil: use re
	fold bool     // lits are lower case; match the lower-cased input
	// The literal search is one pass over the input: a byte pair that
	// starts no literal (the pair bitset) is skipped at once; otherwise
	// the literals starting with that byte are compared.
	any     bool            // an empty literal: everything matches
	single  [256]bool       // one-byte literals
	pair    [1 << 10]uint64 // bitset of the first two bytes of longer literals
	byFirst [256][][]byte   // longer literals by first byte

	// Verdicts of recent User-Agents, direct-mapped by hash: real traffic
	// repeats a few User-Agents, so most requests cost a hash and a
	// compare. Fixed size, so random User-Agents only evict (at most
	// uaCacheSlots × maxUAMatchBytes bytes are kept); the matcher is
	// rebuilt with the configuration, so a reload starts empty.
	seed  maphash.Seed
	cache [uaCacheSlots]atomic.Pointer[uaVerdict]
}

// uaCacheSlots is the size of a matcher's verdict cache (a power of two).
const uaCacheSlots = 256

// uaVerdict is one cached User-Agent and whether it matched.
type uaVerdict struct {
	ua  string
	hit bool
}

// uaMaxLiterals bounds the expanded set; larger patterns use the regexp.
const uaMaxLiterals = 256

func newUAMatcher(re *regexp.Regexp) *uaMatcher {
	m := &uaMatcher{re: re, seed: maphash.MakeSeed()}
	if lits, fold, ok := uaLiteralSet(re.String()); ok {
		m.fold = fold
		for _, l := range lits {
			m.lits = append(m.lits, []byte(l))
			switch len(l) {
			case 0:
				m.any = true
			case 1:
				m.single[l[0]] = true
			default:
				k := uint16(l[0])<<8 | uint16(l[1])
				m.pair[k>>6] |= 1 << (k & 63)
				m.byFirst[l[0]] = append(m.byFirst[l[0]], []byte(l))
			}
		}
	}
	return m
}

// match reports whether ua (at most maxUAMatchBytes) matches the list,
// through the verdict cache.
func (m *uaMatcher) match(ua string) bool {
	slot := &m.cache[maphash.String(m.seed, ua)&(uaCacheSlots-1)]
	if v := slot.Load(); v != nil && v.ua == ua {
		return v.hit
	}
	hit := m.matchUncached(ua)
	slot.Store(&uaVerdict{ua: ua, hit: hit})
	return hit
}

// matchUncached is match without the cache.
func (m *uaMatcher) matchUncached(ua string) bool {
	if m.lits == nil {
		return m.re.MatchString(ua)
	}
	var buf [maxUAMatchBytes]byte
	n := copy(buf[:], ua)
	in := buf[:n]
	if m.fold {
		for i, c := range in {
			if c >= 0x80 {
				return m.re.MatchString(ua)
			}
			if 'A' <= c && c <= 'Z' {
				in[i] = c + 'a' - 'A'
			}
		}
	}
	if m.any {
		return true
	}
	for i, c := range in {
		if m.single[c] {
			return true
		}
		if i+1 == len(in) {
			break
		}
		if k := uint16(c)<<8 | uint16(in[i+1]); m.pair[k>>6]&(1<<(k&63)) == 0 {
			continue
		}
		for _, l := range m.byFirst[c] {
			if bytes.HasPrefix(in[i:], l) {
				return true
			}
		}
	}
	return false
}

// uaLiteralSet expands pattern into the finite set of strings it matches,
// when it is one; fold reports a case-insensitive set (lower-cased).
func uaLiteralSet(pattern string) (lits []string, fold bool, ok bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, false, false
	}
	var folded, plain bool
	var expand func(r *syntax.Regexp) ([]string, bool)
	expand = func(r *syntax.Regexp) ([]string, bool) {
		switch r.Op {
		case syntax.OpCapture:
			return expand(r.Sub[0])
		case syntax.OpEmptyMatch:
			return []string{""}, true
		case syntax.OpLiteral:
			for _, c := range r.Rune {
				if c >= 0x80 {
					return nil, false
				}
			}
			if r.Flags&syntax.FoldCase != 0 {
				folded = true
			} else {
				plain = true
			}
			return []string{string(r.Rune)}, true
		case syntax.OpCharClass:
			return uaClass(r.Rune)
		case syntax.OpConcat:
			out := []string{""}
			for _, sub := range r.Sub {
				s, ok := expand(sub)
				if !ok || len(out)*len(s) > uaMaxLiterals {
					return nil, false
				}
				next := make([]string, 0, len(out)*len(s))
				for _, a := range out {
					for _, b := range s {
						next = append(next, a+b)
					}
				}
				out = next
			}
			return out, true
		case syntax.OpAlternate:
			var out []string
			for _, sub := range r.Sub {
				s, ok := expand(sub)
				if !ok || len(out)+len(s) > uaMaxLiterals {
					return nil, false
				}
				out = append(out, s...)
			}
			return out, true
		}
		return nil, false
	}
	lits, ok = expand(re)
	if !ok || (folded && plain) {
		return nil, false, false
	}
	if folded {
		for i, l := range lits {
			lits[i] = asciiLower(l)
		}
		// A class in a case-insensitive set must hold both cases of its
		// letters, or lower-casing the input would widen it.
		if !uaFoldClosed(re) {
			return nil, false, false
		}
	}
	return lits, folded, true
}

// uaClass expands a small ASCII character class into one-byte strings.
func uaClass(ranges []rune) ([]string, bool) {
	var out []string
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i+1] >= 0x80 || ranges[i+1]-ranges[i] > 16 {
			return nil, false
		}
		for c := ranges[i]; c <= ranges[i+1]; c++ {
			out = append(out, string(c))
		}
	}
	return out, len(out) <= 32
}

// uaFoldClosed reports whether every character class under r contains
// both cases of each ASCII letter it contains.
func uaFoldClosed(r *syntax.Regexp) bool {
	if r.Op == syntax.OpCharClass {
		has := map[rune]bool{}
		for i := 0; i+1 < len(r.Rune); i += 2 {
			for c := r.Rune[i]; c <= r.Rune[i+1]; c++ {
				has[c] = true
			}
		}
		for c := range has {
			if 'a' <= c && c <= 'z' && !has[c-32] || 'A' <= c && c <= 'Z' && !has[c+32] {
				return false
			}
		}
	}
	for _, s := range r.Sub {
		if !uaFoldClosed(s) {
			return false
		}
	}
	return true
}

// asciiLower lower-cases the ASCII letters of s and leaves every other
// byte alone (no Unicode case folding).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
