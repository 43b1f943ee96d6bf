package rip

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file holds rip's hand-written TOML 1.0 parser. It reads a strict subset
// of TOML into a generic tree: tables are map[string]any, arrays []any, strings
// string, integers int64, floats float64, booleans bool and date-times
// [tomlDatetime]. toml_struct.go maps that tree onto Go structs.
//
// Everything TOML 1.0 allows is accepted except arrays of tables
// ([[name]]) and leap seconds, which fail with errTOMLUnsupported naming the
// construct and its position. Nothing is silently dropped or reinterpreted.

// Limits on untrusted TOML input. Both are reported when hit, never truncated.
const (
	// tomlMaxInputBytes bounds the size of one TOML document (1 MiB). rip's
	// configuration is a few KiB; anything larger is a mistake or an attack.
	tomlMaxInputBytes = 1 << 20

	// tomlMaxDepth bounds how deep tables, arrays and inline tables may nest
	// (counting every key of a dotted key or table header). It keeps the
	// recursive parser, encoder and struct decoder far from stack exhaustion;
	// toml-test recommends a limit between 128 and 256.
	tomlMaxDepth = 128
)

// errTOMLUnsupported marks valid TOML that rip deliberately does not accept.
var errTOMLUnsupported = errors.New("unsupported TOML feature")

// tomlError is a parse error at a position of the input. Line and Col are
// 1-based; Col counts Unicode code points, the way an editor shows columns.
type tomlError struct {
	Line, Col int
	Msg       string
	Err       error // errTOMLUnsupported for unsupported features, else nil
}

func (e *tomlError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

func (e *tomlError) Unwrap() error { return e.Err }

// tomlTableKind records how a table came into existence, which decides what
// may later add to it (TOML 1.0 §Table, §Keys).
type tomlTableKind uint8

const (
	tomlImplicit tomlTableKind = iota + 1 // created as a parent of a [a.b] header
	tomlExplicit                          // defined by its own [header]
	tomlDotted                            // created by a dotted key a.b = 1
)

// tomlNode shadows one table of the tree being built, recording how it was
// created. Only tables created by headers or dotted keys get a node: a table
// without one was written inline (or inside an inline table) and is frozen.
// Walking the shadow tree beside the value tree keeps every lookup O(key).
type tomlNode struct {
	kind     tomlTableKind
	children map[string]*tomlNode
}

func (n *tomlNode) add(key string, kind tomlTableKind) *tomlNode {
	if n.children == nil {
		n.children = map[string]*tomlNode{}
	}
	c := &tomlNode{kind: kind}
	n.children[key] = c
	return c
}

// tomlParser is a recursive-descent parser over a validated UTF-8 input.
type tomlParser struct {
	src []byte
	pos int
}

// tomlParse parses a TOML 1.0 document into a generic tree.
//
// # Security
//
// The input is untrusted (an operator-edited file or a config blob from the
// database). The parser bounds the input size (tomlMaxInputBytes) and nesting
// depth (tomlMaxDepth), validates UTF-8 and rejects control characters before
// parsing, rejects integers that do not fit int64 instead of wrapping, and
// rejects duplicate keys and table redefinitions so that no second value can
// silently override a reviewed one. Every error carries line:col.
func tomlParse(src []byte) (map[string]any, error) {
	src, err := tomlPrepare(src)
	if err != nil {
		return nil, err
	}
	p := &tomlParser{src: src}
	return p.document()
}

// tomlPrepare enforces the input limits, strips a leading byte order mark and
// checks the encoding: valid UTF-8 without control characters other than tab,
// LF and CR LF. No TOML construct may contain other raw control characters, so
// checking once here is equivalent to checking in every string and comment.
func tomlPrepare(src []byte) ([]byte, error) {
	if len(src) > tomlMaxInputBytes {
		return nil, fmt.Errorf("toml: input is %d bytes, larger than the limit of %d bytes", len(src), tomlMaxInputBytes)
	}
	if len(src) >= 3 && src[0] == 0xEF && src[1] == 0xBB && src[2] == 0xBF {
		src = src[3:]
	}
	p := &tomlParser{src: src}
	for i := 0; i < len(src); {
		c := src[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\r' && (i+1 == len(src) || src[i+1] != '\n'):
				return nil, p.errAt(i, "carriage return not followed by line feed")
			case (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F:
				return nil, p.errAt(i, "control character U+%04X must be escaped", c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && n == 1 {
			return nil, p.errAt(i, "invalid UTF-8")
		}
		i += n
	}
	return src, nil
}

// errAt builds a tomlError for byte offset pos.
func (p *tomlParser) errAt(pos int, format string, args ...any) *tomlError {
	line, lineStart := 1, 0
	for i := 0; i < pos && i < len(p.src); i++ {
		if p.src[i] == '\n' {
			line++
			lineStart = i + 1
		}
	}
	col := utf8.RuneCount(p.src[lineStart:min(pos, len(p.src))]) + 1
	return &tomlError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// unsupportedAt reports a valid TOML construct that rip does not accept.
func (p *tomlParser) unsupportedAt(pos int, construct string) *tomlError {
	e := p.errAt(pos, "%v: %s", errTOMLUnsupported, construct)
	e.Err = errTOMLUnsupported
	return e
}

// unexpected describes the character at pos for an error message.
func (p *tomlParser) unexpected(pos int, want string) *tomlError {
	if pos >= len(p.src) {
		return p.errAt(pos, "unexpected end of input, expected %s", want)
	}
	r, _ := utf8.DecodeRune(p.src[pos:])
	switch r {
	case '\n', '\r':
		return p.errAt(pos, "unexpected end of line, expected %s", want)
	case 0xFEFF:
		return p.errAt(pos, "byte order mark is only allowed at the start of the input")
	}
	return p.errAt(pos, "unexpected %q, expected %s", r, want)
}

// peek returns the current byte, or 0 at the end of input (NUL cannot occur
// in a prepared input, so 0 is unambiguous).
func (p *tomlParser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *tomlParser) hasPrefix(s string) bool {
	return strings.HasPrefix(string(p.src[p.pos:min(p.pos+len(s), len(p.src))]), s)
}

func (p *tomlParser) skipWS() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

// skipComment skips a comment up to (not including) the end of the line.
func (p *tomlParser) skipComment() {
	for p.pos < len(p.src) && p.src[p.pos] != '\n' && p.src[p.pos] != '\r' {
		p.pos++
	}
}

// skipNewline consumes LF or CR LF and reports whether it did.
func (p *tomlParser) skipNewline() bool {
	switch {
	case p.peek() == '\n':
		p.pos++
	case p.hasPrefix("\r\n"):
		p.pos += 2
	default:
		return false
	}
	return true
}

// lineEnd requires the rest of the line to be blank or a comment.
func (p *tomlParser) lineEnd(after string) error {
	p.skipWS()
	if p.peek() == '#' {
		p.skipComment()
	}
	if p.pos == len(p.src) || p.skipNewline() {
		return nil
	}
	return p.unexpected(p.pos, "end of line after "+after)
}

// document parses the whole input. cur is the table that key/value pairs go
// to; curPath is its path from the root.
func (p *tomlParser) document() (map[string]any, error) {
	root, rootNode := map[string]any{}, &tomlNode{kind: tomlExplicit}
	cur, curNode, curPath := root, rootNode, []string(nil)
	for {
		p.skipWS()
		switch c := p.peek(); {
		case p.pos == len(p.src):
			return root, nil
		case c == '#':
			p.skipComment()
		case p.skipNewline():
			continue
		case c == '[':
			start := p.pos
			path, err := p.header()
			if err != nil {
				return nil, err
			}
			t, n, msg := tomlOpenHeader(root, rootNode, path)
			if msg != "" {
				return nil, p.errAt(start, "%s", msg)
			}
			cur, curNode, curPath = t, n, path
			if err := p.lineEnd("table header"); err != nil {
				return nil, err
			}
		default:
			if err := p.keyValue(cur, curNode, curPath, len(curPath)); err != nil {
				return nil, err
			}
			if err := p.lineEnd("value"); err != nil {
				return nil, err
			}
		}
	}
}

// header parses "[a.b]" and returns its key path.
func (p *tomlParser) header() ([]string, error) {
	start := p.pos
	p.pos++ // '['
	if p.peek() == '[' {
		return nil, p.unsupportedAt(start, "array of tables")
	}
	keys, err := p.key()
	if err != nil {
		return nil, err
	}
	if len(keys) > tomlMaxDepth {
		return nil, p.errAt(start, "table header nests %d levels, more than the limit of %d", len(keys), tomlMaxDepth)
	}
	p.skipWS()
	if p.peek() != ']' {
		return nil, p.unexpected(p.pos, "']' closing the table header")
	}
	p.pos++
	return keys, nil
}

// keyValue parses "key = value" and stores it in table t (shadowed by node
// n) at path tpath. depth is the nesting depth of t.
func (p *tomlParser) keyValue(t map[string]any, n *tomlNode, tpath []string, depth int) error {
	start := p.pos
	keys, err := p.key()
	if err != nil {
		return err
	}
	if depth+len(keys) > tomlMaxDepth {
		return p.errAt(start, "key nests more than the limit of %d levels", tomlMaxDepth)
	}
	p.skipWS()
	if p.peek() != '=' {
		return p.unexpected(p.pos, "'=' after key")
	}
	p.pos++
	p.skipWS()
	v, err := p.value(depth + len(keys))
	if err != nil {
		return err
	}
	if msg := tomlSetKey(t, n, tpath, keys, v); msg != "" {
		return p.errAt(start, "%s", msg)
	}
	return nil
}

// key parses a simple or dotted key, with optional blanks around the dots.
func (p *tomlParser) key() ([]string, error) {
	var parts []string
	for {
		p.skipWS()
		part, err := p.simpleKey()
		if err != nil {
			return nil, err
		}
		parts = append(parts, part)
		p.skipWS()
		if p.peek() != '.' {
			return parts, nil
		}
		p.pos++
	}
}

func (p *tomlParser) simpleKey() (string, error) {
	switch p.peek() {
	case '"':
		return p.basicString()
	case '\'':
		return p.literalString()
	}
	start := p.pos
	for p.pos < len(p.src) && tomlIsBareKeyChar(p.src[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return "", p.unexpected(p.pos, "a key")
	}
	return string(p.src[start:p.pos]), nil
}

func tomlIsBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// tomlOpenHeader finds or creates the table for header path and returns it
// with its node, or a message explaining why the header is not allowed.
func tomlOpenHeader(root map[string]any, rootNode *tomlNode, path []string) (map[string]any, *tomlNode, string) {
	t, n := root, rootNode
	for i, k := range path {
		sub := path[:i+1]
		last := i == len(path)-1
		v, ok := t[k]
		if !ok {
			kind := tomlImplicit
			if last {
				kind = tomlExplicit
			}
			nt := map[string]any{}
			t[k], t, n = nt, nt, n.add(k, kind)
			continue
		}
		nt, isTable := v.(map[string]any)
		if !isTable {
			return nil, nil, fmt.Sprintf("key %s already holds a value, it cannot become a table", tomlFormatPath(sub))
		}
		child := n.children[k]
		switch {
		case child == nil:
			return nil, nil, fmt.Sprintf("inline table %s cannot be extended", tomlFormatPath(sub))
		case last && child.kind == tomlExplicit:
			return nil, nil, fmt.Sprintf("table [%s] is already defined", tomlFormatPath(sub))
		case last && child.kind == tomlDotted:
			return nil, nil, fmt.Sprintf("table [%s] is already defined by dotted keys", tomlFormatPath(sub))
		case last:
			child.kind = tomlExplicit
		}
		t, n = nt, child
	}
	return t, n, ""
}

// tomlSetKey stores v under the dotted key keys of table t (node n, path
// tpath), creating intermediate tables. Dotted keys may only walk through
// tables that dotted keys created; tables defined by headers or inline
// cannot be re-opened this way.
func tomlSetKey(t map[string]any, n *tomlNode, tpath, keys []string, v any) string {
	full := append(tpath[:len(tpath):len(tpath)], keys...)
	for i, k := range keys[:len(keys)-1] {
		sub := full[:len(tpath)+i+1]
		existing, ok := t[k]
		if !ok {
			nt := map[string]any{}
			t[k], t, n = nt, nt, n.add(k, tomlDotted)
			continue
		}
		nt, isTable := existing.(map[string]any)
		if !isTable {
			return fmt.Sprintf("key %s already holds a value, it cannot hold sub-keys", tomlFormatPath(sub))
		}
		switch child := n.children[k]; {
		case child == nil:
			return fmt.Sprintf("inline table %s cannot be extended", tomlFormatPath(sub))
		case child.kind != tomlDotted:
			return fmt.Sprintf("table [%s] is defined by a header and cannot be extended with dotted keys", tomlFormatPath(sub))
		default:
			t, n = nt, child
		}
	}
	last := keys[len(keys)-1]
	if _, dup := t[last]; dup {
		return fmt.Sprintf("duplicate key %s", tomlFormatPath(full))
	}
	t[last] = v
	return ""
}

// tomlFormatPath renders a key path the way it would be written in TOML.
func tomlFormatPath(path []string) string {
	var b []byte
	for i, k := range path {
		if i > 0 {
			b = append(b, '.')
		}
		b = tomlAppendKey(b, k)
	}
	return string(b)
}

// value parses any TOML value. depth is the nesting depth of the value.
func (p *tomlParser) value(depth int) (any, error) {
	switch c := p.peek(); {
	case p.hasPrefix(`"""`):
		return p.multilineString('"')
	case c == '"':
		return p.basicString()
	case p.hasPrefix(`'''`):
		return p.multilineString('\'')
	case c == '\'':
		return p.literalString()
	case c == '[':
		return p.array(depth + 1)
	case c == '{':
		return p.inlineTable(depth + 1)
	case c == 't' || c == 'f':
		return p.boolean()
	case c >= '0' && c <= '9' || c == '+' || c == '-' || c == 'i' || c == 'n':
		return p.numberOrDatetime()
	}
	return nil, p.unexpected(p.pos, "a value")
}

func (p *tomlParser) boolean() (any, error) {
	for _, lit := range []string{"true", "false"} {
		if p.hasPrefix(lit) {
			p.pos += len(lit)
			return lit == "true", nil
		}
	}
	return nil, p.unexpected(p.pos, "a value")
}

// array parses "[v, v, ...]" with optional newlines, comments and a trailing
// comma. Values of different types may be mixed (TOML 1.0).
func (p *tomlParser) array(depth int) (any, error) {
	if depth > tomlMaxDepth {
		return nil, p.errAt(p.pos, "value nests more than the limit of %d levels", tomlMaxDepth)
	}
	p.pos++ // '['
	arr := []any{}
	for {
		p.skipBlank()
		if p.peek() == ']' {
			p.pos++
			return arr, nil
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		p.skipBlank()
		switch p.peek() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return arr, nil
		default:
			return nil, p.unexpected(p.pos, "',' or ']' in array")
		}
	}
}

// skipBlank skips blanks, newlines and comments (inside arrays).
func (p *tomlParser) skipBlank() {
	for {
		p.skipWS()
		if p.peek() == '#' {
			p.skipComment()
		}
		if !p.skipNewline() {
			return
		}
	}
}

// inlineTable parses "{k = v, ...}". TOML 1.0 forbids newlines and a trailing
// comma inside; the table and everything in it is frozen afterwards.
func (p *tomlParser) inlineTable(depth int) (any, error) {
	if depth > tomlMaxDepth {
		return nil, p.errAt(p.pos, "value nests more than the limit of %d levels", tomlMaxDepth)
	}
	p.pos++ // '{'
	t, n := map[string]any{}, &tomlNode{kind: tomlExplicit}
	p.skipWS()
	if p.peek() == '}' {
		p.pos++
		return t, nil
	}
	for {
		if err := p.keyValue(t, n, nil, depth); err != nil {
			return nil, err
		}
		p.skipWS()
		switch p.peek() {
		case ',':
			p.pos++
			p.skipWS()
			if p.peek() == '}' {
				return nil, p.errAt(p.pos, "trailing comma is not allowed in an inline table")
			}
		case '}':
			p.pos++
			return t, nil
		default:
			return nil, p.unexpected(p.pos, "',' or '}' in inline table")
		}
	}
}

// numberOrDatetime dispatches on the shape of the token: "HH:" starts a local
// time, "YYYY-" a date, anything else a number.
func (p *tomlParser) numberOrDatetime() (any, error) {
	if p.digitsAt(p.pos, 2) && p.byteAt(p.pos+2) == ':' {
		return p.datetime()
	}
	if p.digitsAt(p.pos, 4) && p.byteAt(p.pos+4) == '-' {
		return p.datetime()
	}
	start := p.pos
	for p.pos < len(p.src) && tomlIsNumberChar(p.src[p.pos]) {
		p.pos++
	}
	v, msg := tomlParseNumber(string(p.src[start:p.pos]))
	if msg != "" {
		return nil, p.errAt(start, "%s", msg)
	}
	return v, nil
}

func tomlIsNumberChar(c byte) bool {
	return tomlIsBareKeyChar(c) || c == '+' || c == '.'
}

func (p *tomlParser) byteAt(i int) byte {
	if i < len(p.src) {
		return p.src[i]
	}
	return 0
}

func (p *tomlParser) digitsAt(i, n int) bool {
	for j := i; j < i+n; j++ {
		if c := p.byteAt(j); c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// tomlParseNumber parses an integer or float token, or returns a message.
func tomlParseNumber(tok string) (any, string) {
	sign, rest := "", tok
	if tok != "" && (tok[0] == '+' || tok[0] == '-') {
		sign, rest = tok[:1], tok[1:]
	}
	switch rest {
	case "inf":
		if sign == "-" {
			return math.Inf(-1), ""
		}
		return math.Inf(1), ""
	case "nan":
		return math.NaN(), ""
	}
	if len(rest) > 2 && rest[0] == '0' && (rest[1] == 'x' || rest[1] == 'o' || rest[1] == 'b') {
		if sign != "" {
			return nil, fmt.Sprintf("invalid number %q: hexadecimal, octal and binary integers take no sign", tok)
		}
		return tomlParseBaseInt(tok, rest[1], rest[2:])
	}
	return tomlParseDecimal(tok, sign, rest)
}

func tomlParseBaseInt(tok string, prefix byte, digits string) (any, string) {
	base, valid := 16, "0123456789abcdefABCDEF"
	switch prefix {
	case 'o':
		base, valid = 8, "01234567"
	case 'b':
		base, valid = 2, "01"
	}
	clean, ok := tomlStripUnderscores(digits, valid)
	if !ok {
		return nil, fmt.Sprintf("invalid integer %q", tok)
	}
	n, err := strconv.ParseUint(clean, base, 64)
	if err != nil || n > math.MaxInt64 {
		return nil, fmt.Sprintf("integer %s does not fit in 64 bits", tok)
	}
	return int64(n), ""
}

// tomlParseDecimal parses a decimal integer or a float: an integer part
// without leading zeros, then an optional fraction and exponent.
func tomlParseDecimal(tok, sign, rest string) (any, string) {
	const digits = "0123456789"
	bad := fmt.Sprintf("invalid number %q", tok)
	intEnd := strings.IndexAny(rest, ".eE")
	if intEnd < 0 {
		intEnd = len(rest)
	}
	intPart, ok := tomlStripUnderscores(rest[:intEnd], digits)
	if !ok {
		return nil, bad
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return nil, fmt.Sprintf("invalid number %q: leading zeros are not allowed", tok)
	}
	rest = rest[intEnd:]
	if rest == "" {
		n, err := strconv.ParseInt(sign+intPart, 10, 64)
		if err != nil {
			return nil, fmt.Sprintf("integer %s does not fit in 64 bits", tok)
		}
		return n, ""
	}
	text := sign + intPart
	if rest[0] == '.' {
		end := strings.IndexAny(rest, "eE")
		if end < 0 {
			end = len(rest)
		}
		frac, ok := tomlStripUnderscores(rest[1:end], digits)
		if !ok {
			return nil, bad
		}
		text += "." + frac
		rest = rest[end:]
	}
	if rest != "" {
		exp := rest[1:]
		expSign := ""
		if exp != "" && (exp[0] == '+' || exp[0] == '-') {
			expSign, exp = exp[:1], exp[1:]
		}
		e, ok := tomlStripUnderscores(exp, digits)
		if !ok {
			return nil, bad
		}
		text += "e" + expSign + e
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return nil, fmt.Sprintf("float %s is out of range", tok)
	}
	return f, ""
}

// tomlStripUnderscores checks that s is non-empty, made of valid digits, with
// each underscore between two digits, and returns s without underscores.
func tomlStripUnderscores(s, valid string) (string, bool) {
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' {
		return "", false
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			if s[i+1] == '_' {
				return "", false
			}
			continue
		}
		if strings.IndexByte(valid, c) < 0 {
			return "", false
		}
		b = append(b, c)
	}
	return string(b), true
}
