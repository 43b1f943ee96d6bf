package rip

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// tomlTestHook turns the process into a toml-test decoder
// (RIP_TOML_TEST_DECODER=1: TOML on stdin, tagged JSON on stdout) or encoder
// (RIP_TOML_TEST_ENCODER=1: tagged JSON on stdin, TOML on stdout) and exits;
// without either variable it returns.
func tomlTestHook() {
	switch {
	case os.Getenv("RIP_TOML_TEST_DECODER") == "1":
		os.Exit(tomlTestDecoder(os.Stdin, os.Stdout, os.Stderr))
	case os.Getenv("RIP_TOML_TEST_ENCODER") == "1":
		os.Exit(tomlTestEncoder(os.Stdin, os.Stdout, os.Stderr))
	}
}

// tomlTestDecoder implements the toml-test decoder protocol; it returns the
// exit code: 0 with JSON on out, or 1 with the error on errw.
func tomlTestDecoder(in io.Reader, out, errw io.Writer) int {
	src, err := io.ReadAll(in)
	if err == nil {
		var tree map[string]any
		if tree, err = tomlParse(src); err == nil {
			var j []byte
			if j, err = json.Marshal(tomlTagged(tree)); err == nil {
				_, err = out.Write(append(j, '\n'))
			}
		}
	}
	if err != nil {
		fmt.Fprintln(errw, err)
		return 1
	}
	return 0
}

// tomlTestEncoder implements the toml-test encoder protocol.
func tomlTestEncoder(in io.Reader, out, errw io.Writer) int {
	var raw any
	err := json.NewDecoder(in).Decode(&raw)
	if err == nil {
		var v any
		if v, err = tomlUntagged(raw); err == nil {
			tree, ok := v.(map[string]any)
			if !ok {
				err = fmt.Errorf("top level is %T, not an object", v)
			} else {
				var b []byte
				if b, err = tomlEncodeTree(tree); err == nil {
					_, err = out.Write(b)
				}
			}
		}
	}
	if err != nil {
		fmt.Fprintln(errw, err)
		return 1
	}
	return 0
}

// tomlTagged converts a parsed tree into toml-test's JSON description.
func tomlTagged(v any) any {
	tag := func(typ, val string) any { return map[string]string{"type": typ, "value": val} }
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = tomlTagged(e)
		}
		return m
	case []any:
		a := make([]any, len(v))
		for i, e := range v {
			a[i] = tomlTagged(e)
		}
		return a
	case string:
		return tag("string", v)
	case int64:
		return tag("integer", strconv.FormatInt(v, 10))
	case float64:
		return tag("float", tomlFormatFloat(v))
	case bool:
		return tag("bool", strconv.FormatBool(v))
	case tomlDatetime:
		kinds := map[tomlDatetimeKind]string{
			tomlOffsetDatetime: "datetime", tomlLocalDatetime: "datetime-local",
			tomlLocalDate: "date-local", tomlLocalTime: "time-local",
		}
		return tag(kinds[v.kind], v.String())
	}
	panic(fmt.Sprintf("tomlTagged: unexpected %T", v))
}

// tomlUntagged converts toml-test's JSON description into a generic tree.
func tomlUntagged(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		if typ, ok := v["type"].(string); ok && len(v) == 2 {
			if val, ok := v["value"].(string); ok {
				return tomlFromTag(typ, val)
			}
		}
		m := make(map[string]any, len(v))
		for k, e := range v {
			u, err := tomlUntagged(e)
			if err != nil {
				return nil, err
			}
			m[k] = u
		}
		return m, nil
	case []any:
		a := make([]any, len(v))
		for i, e := range v {
			u, err := tomlUntagged(e)
			if err != nil {
				return nil, err
			}
			a[i] = u
		}
		return a, nil
	}
	return nil, fmt.Errorf("unexpected JSON %T", v)
}

func tomlFromTag(typ, val string) (any, error) {
	switch typ {
	case "string":
		return val, nil
	case "integer":
		return strconv.ParseInt(val, 10, 64)
	case "float":
		switch val {
		case "nan", "+nan", "-nan":
			return math.NaN(), nil
		}
		return strconv.ParseFloat(val, 64)
	case "bool":
		return strconv.ParseBool(val)
	case "datetime", "datetime-local", "date-local", "time-local":
		d, err := tomlParseValue(val)
		if err != nil {
			return nil, err
		}
		if _, ok := d.(tomlDatetime); !ok {
			return nil, fmt.Errorf("%s %q is not a date-time", typ, val)
		}
		return d, nil
	}
	return nil, fmt.Errorf("unknown type %q", typ)
}

func TestTOMLParseValid(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		src  string
		want map[string]any
	}{
		// Keys and tables.
		{"empty", "", map[string]any{}},
		{"comments only", "# a\n  # b\r\n", map[string]any{}},
		{"bare key", "a = 1", map[string]any{"a": int64(1)}},
		{"quoted keys", `"a b" = 1` + "\n'c.d' = 2\n\"\" = 3", map[string]any{"a b": int64(1), "c.d": int64(2), "": int64(3)}},
		{"dotted key", "a . b.\"c\" = 1", map[string]any{"a": map[string]any{"b": map[string]any{"c": int64(1)}}}},
		{"dotted keys share a table", "a.b = 1\na.c = 2", map[string]any{"a": map[string]any{"b": int64(1), "c": int64(2)}}},
		{"table header", "[a]\nx = 1\n[a.b]\ny = 2", map[string]any{"a": map[string]any{"x": int64(1), "b": map[string]any{"y": int64(2)}}}},
		{"super table after sub table", "[a.b]\n[a]\nx = 1", map[string]any{"a": map[string]any{"x": int64(1), "b": map[string]any{}}}},
		{"sub table of dotted table", "[f]\napple.color = 1\n[f.apple.texture]\nsmooth = true",
			map[string]any{"f": map[string]any{"apple": map[string]any{"color": int64(1), "texture": map[string]any{"smooth": true}}}}},
		{"header blanks and comment", "[ a . b ] # c\n", map[string]any{"a": map[string]any{"b": map[string]any{}}}},
		{"bom at start", "\uFEFFa = 1", map[string]any{"a": int64(1)}},
		{"crlf", "a = 1\r\nb = 2\r\n", map[string]any{"a": int64(1), "b": int64(2)}},
		// Strings.
		{"basic escapes", `s = "\b\t\n\f\r\"\\ \u00e9 \U0001F600"`, map[string]any{"s": "\b\t\n\f\r\"\\ é 😀"}},
		{"literal", `s = 'C:\path\'`, map[string]any{"s": `C:\path\`}},
		{"multi-line basic", "s = \"\"\"\nline1\r\nline2 \\\n    joined\"\"\"", map[string]any{"s": "line1\nline2 joined"}},
		{"multi-line quotes before close", `s = """a""""` + "\n" + `t = """""b"""""`, map[string]any{"s": `a"`, "t": `""b""`}},
		{"multi-line literal", "s = '''\nraw \\n ''it'''''", map[string]any{"s": "raw \\n ''it''"}},
		{"tab in strings", "s = \"a\tb\"\nt = 'a\tb'", map[string]any{"s": "a\tb", "t": "a\tb"}},
		// Numbers.
		{"integers", "a = +99\nb = -17\nc = 0\nd = 1_000\ne = 0xDEAD_beef\nf = 0o755\ng = 0b1101\nh = -0",
			map[string]any{"a": int64(99), "b": int64(-17), "c": int64(0), "d": int64(1000), "e": int64(0xdeadbeef), "f": int64(0o755), "g": int64(13), "h": int64(0)}},
		{"int64 bounds", "a = 9223372036854775807\nb = -9223372036854775808\nc = 0x7FFFFFFFFFFFFFFF",
			map[string]any{"a": int64(math.MaxInt64), "b": int64(math.MinInt64), "c": int64(math.MaxInt64)}},
		{"floats", "a = 1.5\nb = -3e2\nc = 6.626e-34\nd = 1_0.0_1\ne = 0e0\nf = 1E+2",
			map[string]any{"a": 1.5, "b": -300.0, "c": 6.626e-34, "d": 10.01, "e": 0.0, "f": 100.0}},
		{"inf and nan", "a = inf\nb = -inf\nc = nan\nd = +nan", map[string]any{"a": math.Inf(1), "b": math.Inf(-1), "c": nan, "d": nan}},
		{"booleans", "t = true\nf = false", map[string]any{"t": true, "f": false}},
		// Date-times.
		{"offset datetime", "d = 1979-05-27T07:32:00.999999-07:00",
			map[string]any{"d": tomlDatetime{kind: tomlOffsetDatetime, year: 1979, month: 5, day: 27, hour: 7, minute: 32, nanosecond: 999999000, offsetMinutes: -420}}},
		{"space separator and z", "d = 1979-05-27 07:32:00z",
			map[string]any{"d": tomlDatetime{kind: tomlOffsetDatetime, year: 1979, month: 5, day: 27, hour: 7, minute: 32}}},
		{"local datetime", "d = 1979-05-27t07:32:00", map[string]any{"d": tomlDatetime{kind: tomlLocalDatetime, year: 1979, month: 5, day: 27, hour: 7, minute: 32}}},
		{"local date then comment", "d = 2000-02-29 # leap", map[string]any{"d": tomlDatetime{kind: tomlLocalDate, year: 2000, month: 2, day: 29}}},
		{"local time truncated to ns", "t = 00:32:00.1234567891", map[string]any{"t": tomlDatetime{kind: tomlLocalTime, minute: 32, nanosecond: 123456789}}},
		// Arrays and inline tables.
		{"array mixed multi-line", "a = [\n 1, # one\n 'two',\n [3.0],\n]", map[string]any{"a": []any{int64(1), "two", []any{3.0}}}},
		{"empty array", "a = [ ]", map[string]any{"a": []any{}}},
		{"inline table", "p = { x = 1, y.z = 2, 'w' = {} }", map[string]any{"p": map[string]any{"x": int64(1), "y": map[string]any{"z": int64(2)}, "w": map[string]any{}}}},
		{"array of inline tables", "a = [{x = 1}, {x = 2}]", map[string]any{"a": []any{map[string]any{"x": int64(1)}, map[string]any{"x": int64(2)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tomlParse([]byte(tt.src))
			if err != nil {
				t.Fatalf("tomlParse: %v", err)
			}
			if !tomlTreeEqual(got, tt.want) {
				t.Errorf("tomlParse =\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}

func TestTOMLParseInvalid(t *testing.T) {
	tests := []struct {
		name        string
		src         string
		want        string // the whole error message
		unsupported bool
	}{
		// Unsupported but valid TOML.
		{"array of tables", "a = 1\n  [[fruit]]\n", "2:3: unsupported TOML feature: array of tables", true},
		{"leap second", "t = 23:59:60", "1:5: unsupported TOML feature: leap second", true},
		// Redefinitions.
		{"duplicate key", "a = 1\na = 2", "2:1: duplicate key a", false},
		{"duplicate dotted key", "[t]\nx.y = 1\nx.y = 2", "3:1: duplicate key t.x.y", false},
		{"key over table", "[a.b]\n[a]\nb = 1", "3:1: duplicate key a.b", false},
		{"table redefined", "[a]\n[a]", "2:1: table [a] is already defined", false},
		{"table over dotted", "a.b = 1\n[a]", "2:1: table [a] is already defined by dotted keys", false},
		{"header through value", "a = 1\n[a.b]", "2:1: key a already holds a value, it cannot become a table", false},
		{"dotted through value", "a = 1\na.b = 2", "2:1: key a already holds a value, it cannot hold sub-keys", false},
		{"dotted into header table", "[a.b]\n[a]\nb.c = 1", "3:1: table [a.b] is defined by a header and cannot be extended with dotted keys", false},
		{"extend inline by dotted key", "a = {x = 1}\na.y = 2", "2:1: inline table a cannot be extended", false},
		{"extend inline by header", "a = {x = 1}\n[a.y]", "2:1: inline table a cannot be extended", false},
		{"inline overwrite inside", "a = {b = {c = 1}, b.d = 2}", "1:19: inline table b cannot be extended", false},
		{"quoted key quirk", "\"a\" = 1\na = 2", "2:1: duplicate key a", false},
		// Encoding.
		{"control char", "a = \"x\x01\"", "1:7: control character U+0001 must be escaped", false},
		{"delete char in comment", "# \x7f", "1:3: control character U+007F must be escaped", false},
		{"bare CR", "a = 1\rb = 2", "1:6: carriage return not followed by line feed", false},
		{"invalid UTF-8", "a = 'é\xff'", "1:7: invalid UTF-8", false},
		{"surrogate in UTF-8", "# \xed\xa0\x80", "1:3: invalid UTF-8", false},
		{"BOM not at start", "a = 1\n\uFEFF", "2:1: byte order mark is only allowed at the start of the input", false},
		// Numbers.
		{"int overflow", "a = 9223372036854775808", "1:5: integer 9223372036854775808 does not fit in 64 bits", false},
		{"hex overflow", "a = 0xFFFFFFFFFFFFFFFF", "1:5: integer 0xFFFFFFFFFFFFFFFF does not fit in 64 bits", false},
		{"leading zero", "a = 012", `1:5: invalid number "012": leading zeros are not allowed`, false},
		{"leading zero float", "a = 00.5", `1:5: invalid number "00.5": leading zeros are not allowed`, false},
		{"signed hex", "a = +0x1", `1:5: invalid number "+0x1": hexadecimal, octal and binary integers take no sign`, false},
		{"double underscore", "a = 1__0", `1:5: invalid number "1__0"`, false},
		{"trailing underscore", "a = 1_", `1:5: invalid number "1_"`, false},
		{"float without fraction digits", "a = 1.", `1:5: invalid number "1."`, false},
		{"float without int part", "a = .5", `1:5: unexpected '.', expected a value`, false},
		{"float out of range", "a = 1e400", `1:5: float 1e400 is out of range`, false},
		{"uppercase hex prefix", "a = 0X1", `1:5: invalid number "0X1"`, false},
		// Strings.
		{"invalid escape", `a = "\e"`, `1:6: invalid escape sequence \e`, false},
		{"short unicode escape", `a = "\u12"`, `1:6: escape \u needs 4 hexadecimal digits`, false},
		{"surrogate escape", `a = "\uD800"`, `1:6: escape \uD800 is not a Unicode scalar value`, false},
		{"newline in string", "a = \"x\ny\"", "1:7: newline in a single-line string (use \"\"\" for multi-line strings)", false},
		{"unterminated", `a = "x`, "1:5: unterminated string", false},
		{"too many quotes", `a = """x""""""`, "1:9: too many quotes at the end of a multi-line string", false},
		{"blank after line-ending backslash", "a = \"\"\"x\\  y\"\"\"", "1:9: a backslash followed by blanks must end the line", false},
		// Structure.
		{"missing value", "a =", "1:4: unexpected end of input, expected a value", false},
		{"missing equals", "a 1", "1:3: unexpected '1', expected '=' after key", false},
		{"two values on a line", "a = 1 b = 2", "1:7: unexpected 'b', expected end of line after value", false},
		{"inline trailing comma", "a = {x = 1,}", "1:12: trailing comma is not allowed in an inline table", false},
		{"inline newline", "a = {x = 1\n}", "1:11: unexpected end of line, expected ',' or '}' in inline table", false},
		{"array without comma", "a = [1 2]", "1:8: unexpected '2', expected ',' or ']' in array", false},
		{"empty bare key", "= 1", "1:1: unexpected '=', expected a key", false},
		{"bad boolean", "a = tru", "1:5: unexpected 't', expected a value", false},
		// Date-times.
		{"seconds required", "t = 07:32", "1:5: invalid time: want HH:MM:SS", false},
		{"feb 30", "d = 2001-02-29", "1:5: invalid date 2001-02-29", false},
		{"hour 24", "t = 24:00:00", "1:5: invalid time 24:00:00", false},
		{"bad offset", "d = 1979-05-27T07:32:00+7:00", "1:24: invalid time zone offset: want +HH:MM or -HH:MM", false},
		{"empty fraction", "t = 07:32:00.", "1:14: fraction of a second needs at least one digit", false},
		{"year 10000", "d = 10000-01-01", `1:5: invalid number "10000-01-01"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tomlParse([]byte(tt.src))
			if err == nil {
				t.Fatal("tomlParse succeeded, want an error")
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\nwant    %q", err, tt.want)
			}
			if got := errors.Is(err, errTOMLUnsupported); got != tt.unsupported {
				t.Errorf("errors.Is(err, errTOMLUnsupported) = %v, want %v", got, tt.unsupported)
			}
		})
	}
}

func TestTOMLLimits(t *testing.T) {
	nested := func(open, close string, n int) string {
		return "a = " + strings.Repeat(open, n) + strings.Repeat(close, n)
	}
	header := func(n int) string { return "[" + strings.Repeat("k.", n-1) + "k]" }
	tests := []struct {
		name string
		src  string
		want string // "" means it must parse
	}{
		{"arrays at the limit", nested("[", "]", tomlMaxDepth-1), ""},
		{"arrays past the limit", nested("[", "]", tomlMaxDepth), "value nests more than the limit of 128 levels"},
		{"inline tables past the limit", "a = " + strings.Repeat("{b = ", tomlMaxDepth) + "1" + strings.Repeat("}", tomlMaxDepth), "nests more than the limit of 128 levels"},
		{"header at the limit", header(tomlMaxDepth), ""},
		{"header past the limit", header(tomlMaxDepth + 1), "table header nests 129 levels, more than the limit of 128"},
		{"dotted key past the limit", header(100) + "\n" + strings.Repeat("k.", 28) + "k = 1", "key nests more than the limit of 128 levels"},
		{"input at the limit", "# " + strings.Repeat("x", tomlMaxInputBytes-2), ""},
		{"input past the limit", "# " + strings.Repeat("x", tomlMaxInputBytes-1), "input is 1048577 bytes, larger than the limit of 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tomlParse([]byte(tt.src))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("tomlParse: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("tomlParse error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestTOMLEncodeTreeRoundTrip(t *testing.T) {
	src := `
title = "x\ty\u0001"
floats = [1.0, -0.0, 1e300, 5e-324, inf, nan, 0.1]
ints = [0, -9223372036854775808]
when = [1979-05-27T07:32:00.5+01:30, 1979-05-27T07:32:00, 1979-05-27, 07:32:00]
aot = [{a = 1}, {b = {c = [{}]}}]
"key with space" = true
[t."a.b"]
[t.c]
d = 'x'
`
	tree, err := tomlParse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	out, err := tomlEncodeTree(tree)
	if err != nil {
		t.Fatal(err)
	}
	back, err := tomlParse(out)
	if err != nil {
		t.Fatalf("re-parse of\n%s\nfailed: %v", out, err)
	}
	if !tomlTreeEqual(tree, back) {
		t.Errorf("round trip changed the tree:\n%s", out)
	}
	const want = `aot = [{a = 1}, {b = {c = [{}]}}]
floats = [1.0, -0.0, 1e+300, 5e-324, inf, nan, 0.1]
ints = [0, -9223372036854775808]
"key with space" = true
title = "x\ty\u0001"
when = [1979-05-27T07:32:00.5+01:30, 1979-05-27T07:32:00, 1979-05-27, 07:32:00]

[t]

[t."a.b"]

[t.c]
d = "x"
`
	if string(out) != want {
		t.Errorf("tomlEncodeTree =\n%s\nwant\n%s", out, want)
	}
}

// tomlTreeEqual compares generic trees, treating NaN as equal to NaN and
// telling -0.0 from 0.0.
func tomlTreeEqual(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if w, ok := b[k]; !ok || !tomlTreeEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !tomlTreeEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	case float64:
		b, ok := b.(float64)
		return ok && (math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b))
	}
	return a == b
}

func FuzzTOMLParse(f *testing.F) {
	for _, s := range []string{
		tomlBenchConfig,
		"a = 1\n[t]\nb.c = [1, 'x', {y = 2.5}]\n",
		"s = \"\"\"\\\n  x\"\"\"\nl = '''y'''\n",
		"d = 1979-05-27T07:32:00Z\nt = 07:32:00.5\n",
		"[[aot]]\n", "a = 0x_1", "a = {b = 1, b.c = 2}", "\uFEFF[a.b]\n[a]\n",
		"x = [[[[[[[[[[[[]]]]]]]]]]]]", "k = -inf\nj = nan\ni = 1e-7",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var cfg tomlTestConfig
		_ = tomlDecode(data, &cfg) // must not panic
		tree, err := tomlParse(data)
		if err != nil {
			var te *tomlError
			if !errors.As(err, &te) && !strings.Contains(err.Error(), "larger than the limit") {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		out, err := tomlEncodeTree(tree)
		if err != nil {
			t.Fatalf("tomlEncodeTree of a parsed tree: %v", err)
		}
		back, err := tomlParse(out)
		if err != nil {
			t.Fatalf("re-parse of encoded tree failed: %v\n%s", err, out)
		}
		if !tomlTreeEqual(tree, back) {
			t.Fatalf("round trip changed the tree:\ninput:\n%q\nencoded:\n%s", data, out)
		}
	})
}

func BenchmarkTOMLParse(b *testing.B) {
	src := []byte(tomlBenchConfig)
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := tomlParse(src); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTOMLTestSuite runs the toml-test conformance suite (TOML 1.0) against
// this test binary, as .ci/toml-test.sh does, when toml-test v2.2.0 is on PATH.
func TestTOMLTestSuite(t *testing.T) {
	const version = "v2.2.0"
	if testing.Short() {
		t.Skip("SKIP: toml-test conformance suite is not run in -short mode")
	}
	if tomlRaceEnabled() {
		t.Skip("SKIP: toml-test suite is not run under -race (each of ~900 runs starts a race-instrumented process); run go test without -race or bash .ci/toml-test.sh")
	}
	bin, err := exec.LookPath("toml-test")
	if err != nil {
		t.Skip("SKIP: toml-test is not installed; run bash .ci/toml-test.sh or go install github.com/toml-lang/toml-test/v2/cmd/toml-test@" + version)
	}
	if out, err := exec.Command(bin, "version").CombinedOutput(); err != nil || !strings.Contains(string(out), version) {
		t.Skipf("SKIP: toml-test on PATH is not %s (%s); the skip list is for %s", version, strings.TrimSpace(string(out)), version)
	}
	exe, err := os.Executable()
	if err != nil || strings.ContainsAny(exe, " \t") {
		t.Skipf("SKIP: cannot pass the test binary %q to toml-test (it splits commands on blanks)", exe)
	}
	list, err := os.ReadFile("testdata/toml-test-skip.txt")
	if err != nil {
		t.Fatal(err)
	}
	var skip []string
	for _, line := range strings.Split(string(list), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			skip = append(skip, line)
		}
	}
	cmd := exec.Command(bin, "test", "-toml", "1.0",
		"-decoder", "env RIP_TOML_TEST_DECODER=1 "+exe,
		"-encoder", "env RIP_TOML_TEST_ENCODER=1 "+exe,
		"-skip", strings.Join(skip, ","), "-skip-must-err", "-parallel", "2", "-timeout", "10s")
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("toml-test: %v\n%s", err, out)
	}
	t.Logf("toml-test:\n%s", out)
}

// tomlRaceEnabled reports whether this binary was built with -race.
func tomlRaceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
