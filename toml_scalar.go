package rip

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// This file parses TOML strings and date-times (see toml.go for the rest).

// basicString parses a single-line "basic string" with escapes.
func (p *tomlParser) basicString() (string, error) {
	start := p.pos
	p.pos++ // '"'
	var b []byte
	for {
		if p.pos >= len(p.src) {
			return "", p.errAt(start, "unterminated string")
		}
		switch c := p.src[p.pos]; c {
		case '"':
			p.pos++
			return string(b), nil
		case '\\':
			var err error
			if b, err = p.escape(b, false); err != nil {
				return "", err
			}
		case '\n', '\r':
			return "", p.errAt(p.pos, `newline in a single-line string (use """ for multi-line strings)`)
		default:
			b = append(b, c)
			p.pos++
		}
	}
}

// literalString parses a single-line 'literal string': no escapes.
func (p *tomlParser) literalString() (string, error) {
	start := p.pos
	p.pos++ // '\''
	for i := p.pos; i < len(p.src); i++ {
		switch p.src[i] {
		case '\'':
			s := string(p.src[p.pos:i])
			p.pos = i + 1
			return s, nil
		case '\n', '\r':
			return "", p.errAt(i, "newline in a single-line literal string (use ''' for multi-line strings)")
		}
	}
	return "", p.errAt(start, "unterminated literal string")
}

// multilineString parses a """basic""" (q is '"') or ”'literal”' (q is
// '\”) multi-line string. A newline right after the opening delimiter is
// dropped; CR LF inside is normalised to LF, as the spec allows; up to two
// quotes may directly precede the closing delimiter.
func (p *tomlParser) multilineString(q byte) (string, error) {
	start := p.pos
	p.pos += 3
	p.skipNewline()
	var b []byte
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == q:
			n := 0
			for p.byteAt(p.pos+n) == q {
				n++
			}
			if n > 5 {
				return "", p.errAt(p.pos, "too many quotes at the end of a multi-line string")
			}
			keep := n
			if n >= 3 {
				keep = n - 3
			}
			for range keep {
				b = append(b, q)
			}
			p.pos += n
			if n >= 3 {
				return string(b), nil
			}
		case c == '\\' && q == '"':
			var err error
			if b, err = p.escape(b, true); err != nil {
				return "", err
			}
		case c == '\r': // always followed by '\n' (checked by tomlPrepare)
			b = append(b, '\n')
			p.pos += 2
		default:
			b = append(b, c)
			p.pos++
		}
	}
	return "", p.errAt(start, "unterminated multi-line string")
}

// escape decodes the escape sequence at p.pos (a backslash) and appends it.
// In multi-line strings a backslash at the end of a line removes the line
// break and all blanks and line breaks after it.
func (p *tomlParser) escape(b []byte, multiline bool) ([]byte, error) {
	start := p.pos
	p.pos++ // '\\'
	c := p.peek()
	switch {
	case tomlSimpleEscape(c) != 0:
		p.pos++
		return append(b, tomlSimpleEscape(c)), nil
	case c == 'u' || c == 'U':
		n := 4
		if c == 'U' {
			n = 8
		}
		hex := string(p.src[p.pos+1 : min(p.pos+1+n, len(p.src))])
		cp, err := strconv.ParseUint(hex, 16, 32)
		if len(hex) != n || err != nil || hex[0] == '+' {
			return nil, p.errAt(start, "escape \\%c needs %d hexadecimal digits", c, n)
		}
		if cp > utf8.MaxRune || cp >= 0xD800 && cp <= 0xDFFF {
			return nil, p.errAt(start, "escape \\%c%s is not a Unicode scalar value", c, hex)
		}
		p.pos += 1 + n
		return utf8.AppendRune(b, rune(cp)), nil
	case multiline && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
		p.skipWS()
		if !p.skipNewline() {
			return nil, p.errAt(start, "a backslash followed by blanks must end the line")
		}
		for {
			p.skipWS()
			if !p.skipNewline() {
				return b, nil
			}
		}
	case p.pos >= len(p.src):
		return nil, p.errAt(start, "unterminated string")
	}
	r, _ := utf8.DecodeRune(p.src[p.pos:])
	return nil, p.errAt(start, "invalid escape sequence \\%c", r)
}

// tomlSimpleEscape maps the letter of a one-letter escape to its byte, or
// returns 0.
func tomlSimpleEscape(c byte) byte {
	switch c {
	case 'b':
		return '\b'
	case 't':
		return '\t'
	case 'n':
		return '\n'
	case 'f':
		return '\f'
	case 'r':
		return '\r'
	case '"', '\\':
		return c
	}
	return 0
}

// tomlDatetimeKind is which of TOML's four date-time types a value has.
type tomlDatetimeKind uint8

const (
	tomlOffsetDatetime tomlDatetimeKind = iota + 1 // 1979-05-27T07:32:00Z
	tomlLocalDatetime                              // 1979-05-27T07:32:00
	tomlLocalDate                                  // 1979-05-27
	tomlLocalTime                                  // 07:32:00
)

// tomlDatetime is a TOML date-time value. rip's configuration does not use
// date-times; the type exists so that valid documents parse losslessly.
// Fields that the kind does not have are zero. Fractions of a second beyond
// nanoseconds are truncated, as TOML 1.0 requires.
type tomlDatetime struct {
	kind                             tomlDatetimeKind
	year, month, day                 int
	hour, minute, second, nanosecond int
	offsetMinutes                    int // offset datetimes only; Z is 0
}

// String formats the value in RFC 3339 form, which is also valid TOML.
func (d tomlDatetime) String() string {
	date := fmt.Sprintf("%04d-%02d-%02d", d.year, d.month, d.day)
	clock := fmt.Sprintf("%02d:%02d:%02d", d.hour, d.minute, d.second)
	if d.nanosecond != 0 {
		frac := fmt.Sprintf("%09d", d.nanosecond)
		for frac[len(frac)-1] == '0' {
			frac = frac[:len(frac)-1]
		}
		clock += "." + frac
	}
	switch d.kind {
	case tomlLocalDate:
		return date
	case tomlLocalTime:
		return clock
	case tomlLocalDatetime:
		return date + "T" + clock
	}
	if d.offsetMinutes == 0 {
		return date + "T" + clock + "Z"
	}
	sign, off := '+', d.offsetMinutes
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("%sT%s%c%02d:%02d", date, clock, sign, off/60, off%60)
}

// datetime parses an offset date-time, local date-time, local date or local
// time (RFC 3339 shapes with TOML's relaxations: 't' or ' ' as separator).
func (p *tomlParser) datetime() (any, error) {
	start := p.pos
	var d tomlDatetime
	if p.byteAt(p.pos+2) == ':' {
		d.kind = tomlLocalTime
		return d, p.clock(&d)
	}
	var ok1, ok2, ok3 bool
	d.year, ok1 = p.fixedDigits(4, '-')
	d.month, ok2 = p.fixedDigits(2, '-')
	d.day, ok3 = p.fixedDigits(2, 0)
	if !ok1 || !ok2 || !ok3 {
		return nil, p.errAt(start, "invalid date: want YYYY-MM-DD")
	}
	if d.month < 1 || d.month > 12 || d.day < 1 || d.day > tomlDaysIn(d.year, d.month) {
		return nil, p.errAt(start, "invalid date %04d-%02d-%02d", d.year, d.month, d.day)
	}
	c := p.peek()
	timeFollows := c == 'T' || c == 't' || c == ' ' && p.digitsAt(p.pos+1, 2) && p.byteAt(p.pos+3) == ':'
	if !timeFollows {
		d.kind = tomlLocalDate
		return d, nil
	}
	p.pos++
	if err := p.clock(&d); err != nil {
		return nil, err
	}
	d.kind = tomlLocalDatetime
	switch p.peek() {
	case 'Z', 'z':
		p.pos++
		d.kind = tomlOffsetDatetime
	case '+', '-':
		d.kind = tomlOffsetDatetime
		return d, p.offset(&d)
	}
	return d, nil
}

// clock parses HH:MM:SS with an optional fraction. Seconds are required in
// TOML 1.0.
func (p *tomlParser) clock(d *tomlDatetime) error {
	start := p.pos
	var ok1, ok2, ok3 bool
	d.hour, ok1 = p.fixedDigits(2, ':')
	d.minute, ok2 = p.fixedDigits(2, ':')
	d.second, ok3 = p.fixedDigits(2, 0)
	if !ok1 || !ok2 || !ok3 {
		return p.errAt(start, "invalid time: want HH:MM:SS")
	}
	if d.second == 60 && d.hour <= 23 && d.minute <= 59 {
		return p.unsupportedAt(start, "leap second")
	}
	if d.hour > 23 || d.minute > 59 || d.second > 59 {
		return p.errAt(start, "invalid time %02d:%02d:%02d", d.hour, d.minute, d.second)
	}
	if p.peek() != '.' {
		return nil
	}
	p.pos++
	digits := 0
	for ; p.digitsAt(p.pos, 1); p.pos++ {
		if digits < 9 {
			d.nanosecond = d.nanosecond*10 + int(p.src[p.pos]-'0')
			digits++
		}
	}
	if digits == 0 {
		return p.errAt(p.pos, "fraction of a second needs at least one digit")
	}
	for ; digits < 9; digits++ {
		d.nanosecond *= 10
	}
	return nil
}

// offset parses a +HH:MM or -HH:MM time zone offset.
func (p *tomlParser) offset(d *tomlDatetime) error {
	start := p.pos
	sign := 1
	if p.peek() == '-' {
		sign = -1
	}
	p.pos++
	h, ok1 := p.fixedDigits(2, ':')
	m, ok2 := p.fixedDigits(2, 0)
	if !ok1 || !ok2 || h > 23 || m > 59 {
		return p.errAt(start, "invalid time zone offset: want +HH:MM or -HH:MM")
	}
	d.offsetMinutes = sign * (h*60 + m)
	return nil
}

// fixedDigits reads exactly n digits followed by sep (unless sep is 0).
func (p *tomlParser) fixedDigits(n int, sep byte) (int, bool) {
	if !p.digitsAt(p.pos, n) {
		return 0, false
	}
	v := 0
	for _, c := range p.src[p.pos : p.pos+n] {
		v = v*10 + int(c-'0')
	}
	p.pos += n
	if sep != 0 {
		if p.peek() != sep {
			return 0, false
		}
		p.pos++
	}
	return v, true
}

func tomlDaysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
