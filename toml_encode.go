package rip

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file writes TOML: from a Go struct (tomlEncode, used to store and dump
// rip's configuration) and from a generic tree (tomlEncodeTree, used by the
// fuzz round-trip and the toml-test encoder hook). Output is deterministic:
// struct fields in declaration order, map keys sorted.

// tomlEncode writes a struct (or pointer to struct) as a TOML document:
// scalar and array fields first, then one [table] per nested struct, and one
// [map.key] table per entry of a map of structs. Nil pointers and empty maps
// are omitted, so decoding the output over the same defaults is a no-op for
// them.
//
// # Security
//
// The output is what rip encrypts and stores as a configuration generation,
// so secrets must be written as their real values: string-kinded fields are
// read with reflect (Kind String), never through String or MarshalText
// methods, which for [Secret] return a mask. Strings are always written as
// escaped basic strings, so no value can inject a line, key or table into the
// document; invalid UTF-8 is an error, not silently replaced.
func tomlEncode(v any) ([]byte, error) {
	rv, err := tomlStructOf(v)
	if err != nil {
		return nil, err
	}
	if err := tomlCheckType(rv.Type()); err != nil {
		return nil, err
	}
	return tomlAppendStruct(nil, rv, nil)
}

// tomlStructOf returns the struct that v is or points to.
func tomlStructOf(v any) (reflect.Value, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return reflect.Value{}, fmt.Errorf("toml: need a struct or a non-nil pointer to a struct, got %T", v)
	}
	return rv, nil
}

// tomlAppendStruct appends the table for struct rv at path.
func tomlAppendStruct(b []byte, rv reflect.Value, path []string) ([]byte, error) {
	if len(path) > tomlMaxDepth {
		return nil, fmt.Errorf("toml: encode %s: nests more than %d levels (a pointer cycle?)", tomlFormatPath(path[:8]), tomlMaxDepth)
	}
	b = tomlAppendHeader(b, path)
	fields := tomlFieldsOf(rv.Type())
	var err error
	for _, f := range fields {
		fv := rv.Field(f.index)
		if tomlIsTableType(fv.Type()) {
			continue
		}
		if b, err = tomlAppendKeyValue(b, f.name, fv, append(path, f.name)); err != nil {
			return nil, err
		}
	}
	for _, f := range fields {
		fv := rv.Field(f.index)
		if !tomlIsTableType(fv.Type()) {
			continue
		}
		sub := append(path[:len(path):len(path)], f.name)
		if b, err = tomlAppendTableValue(b, fv, sub); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// tomlAppendTableValue appends a struct, pointer to struct or map field.
func tomlAppendTableValue(b []byte, fv reflect.Value, path []string) ([]byte, error) {
	switch fv.Kind() {
	case reflect.Struct:
		return tomlAppendStruct(b, fv, path)
	case reflect.Pointer:
		if fv.IsNil() {
			return b, nil
		}
		return tomlAppendStruct(b, fv.Elem(), path)
	}
	keys := tomlSortedMapKeys(fv)
	if !tomlIsTableType(fv.Type().Elem()) {
		if len(keys) == 0 {
			return b, nil
		}
		b = tomlAppendHeader(b, path)
		var err error
		for _, k := range keys {
			if b, err = tomlAppendKeyValue(b, k.String(), fv.MapIndex(k), append(path, k.String())); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	for _, k := range keys {
		if !utf8.ValidString(k.String()) {
			return nil, fmt.Errorf("toml: encode %s: map key is not valid UTF-8", tomlFormatPath(path))
		}
		var err error
		if b, err = tomlAppendTableValue(b, fv.MapIndex(k), append(path[:len(path):len(path)], k.String())); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func tomlSortedMapKeys(m reflect.Value) []reflect.Value {
	keys := m.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
	return keys
}

// tomlAppendHeader appends "[a.b]" (nothing for the root table), separated
// from what precedes it by a blank line.
func tomlAppendHeader(b []byte, path []string) []byte {
	if len(path) == 0 {
		return b
	}
	if len(b) > 0 {
		b = append(b, '\n')
	}
	b = append(b, '[')
	b = append(b, tomlFormatPath(path)...)
	return append(b, "]\n"...)
}

func tomlAppendKeyValue(b []byte, key string, v reflect.Value, path []string) ([]byte, error) {
	if !utf8.ValidString(key) {
		return nil, fmt.Errorf("toml: encode %s: key is not valid UTF-8", tomlFormatPath(path))
	}
	b = tomlAppendKey(b, key)
	b = append(b, " = "...)
	b, err := tomlAppendReflect(b, v, path)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// tomlAppendReflect appends the TOML literal of a scalar or slice value.
func tomlAppendReflect(b []byte, v reflect.Value, path []string) ([]byte, error) {
	if v.Type() == tomlDurationType {
		return tomlAppendString(b, tomlFormatDuration(time.Duration(v.Int()))), nil
	}
	switch v.Kind() {
	case reflect.String:
		// v.String() on a reflect.Value of Kind String returns the stored
		// text; it does not call the type's String method.
		if !utf8.ValidString(v.String()) {
			return nil, fmt.Errorf("toml: encode %s: string is not valid UTF-8", tomlFormatPath(path))
		}
		return tomlAppendString(b, v.String()), nil
	case reflect.Bool:
		return strconv.AppendBool(b, v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if v.Uint() > math.MaxInt64 {
			return nil, fmt.Errorf("toml: encode %s: %d does not fit a TOML integer (int64)", tomlFormatPath(path), v.Uint())
		}
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return append(b, tomlFormatFloat(v.Float())...), nil
	case reflect.Slice:
		b = append(b, '[')
		for i := range v.Len() {
			if i > 0 {
				b = append(b, ", "...)
			}
			var err error
			if b, err = tomlAppendReflect(b, v.Index(i), path); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	return nil, fmt.Errorf("toml: encode %s: unsupported Go type %s", tomlFormatPath(path), v.Type())
}

// tomlFormatDuration writes a duration the way people write them: "45m",
// "1h30m", "2s" rather than time.Duration.String's "45m0s".
func tomlFormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// tomlFormatFloat writes a float that parses back to the same bits (NaN
// aside), always with a '.' or exponent so that it reads back as a float.
func tomlFormatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		return strconv.FormatFloat(f, 'e', -1, 64)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// tomlAppendKey appends k as a bare key when it can be one, else quoted.
func tomlAppendKey(b []byte, k string) []byte {
	bare := k != ""
	for i := 0; i < len(k) && bare; i++ {
		bare = tomlIsBareKeyChar(k[i])
	}
	if bare {
		return append(b, k...)
	}
	return tomlAppendString(b, k)
}

// tomlAppendString appends s as a basic string, escaping quotes,
// backslashes and every control character. s must be valid UTF-8 (callers
// check); invalid bytes would be copied as they are.
func tomlAppendString(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c < 0x20 || c == 0x7F:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// tomlEncodeTree writes a generic tree (as returned by tomlParse) as a TOML
// document: values first, then sub-tables as [headers], keys sorted. Tables
// inside arrays are written as inline tables, so arrays of tables need no
// [[header]] syntax.
func tomlEncodeTree(t map[string]any) ([]byte, error) {
	return tomlAppendTree(nil, t, nil)
}

func tomlAppendTree(b []byte, t map[string]any, path []string) ([]byte, error) {
	if len(path) > tomlMaxDepth {
		return nil, fmt.Errorf("toml: encode: tables nest more than %d levels", tomlMaxDepth)
	}
	if len(path) > 0 {
		b = tomlAppendHeader(b, path)
	}
	keys := slices.Sorted(maps.Keys(t))
	var err error
	for _, k := range keys {
		if _, isTable := t[k].(map[string]any); isTable {
			continue
		}
		if !utf8.ValidString(k) {
			return nil, fmt.Errorf("toml: encode: key %q is not valid UTF-8", k)
		}
		b = tomlAppendKey(b, k)
		b = append(b, " = "...)
		if b, err = tomlAppendAny(b, t[k], len(path)+1); err != nil {
			return nil, err
		}
		b = append(b, '\n')
	}
	for _, k := range keys {
		if sub, isTable := t[k].(map[string]any); isTable {
			if !utf8.ValidString(k) {
				return nil, fmt.Errorf("toml: encode: key %q is not valid UTF-8", k)
			}
			if b, err = tomlAppendTree(b, sub, append(path[:len(path):len(path)], k)); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// tomlAppendAny appends the TOML literal of a generic value; tables become
// inline tables.
func tomlAppendAny(b []byte, v any, depth int) ([]byte, error) {
	if depth > tomlMaxDepth {
		return nil, fmt.Errorf("toml: encode: value nests more than %d levels", tomlMaxDepth)
	}
	switch v := v.(type) {
	case string:
		if !utf8.ValidString(v) {
			return nil, fmt.Errorf("toml: encode: string %q is not valid UTF-8", v)
		}
		return tomlAppendString(b, v), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case float64:
		return append(b, tomlFormatFloat(v)...), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case tomlDatetime:
		return append(b, v.String()...), nil
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ", "...)
			}
			var err error
			if b, err = tomlAppendAny(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(v)) {
			if i > 0 {
				b = append(b, ", "...)
			}
			if !utf8.ValidString(k) {
				return nil, fmt.Errorf("toml: encode: key %q is not valid UTF-8", k)
			}
			b = tomlAppendKey(b, k)
			b = append(b, " = "...)
			var err error
			if b, err = tomlAppendAny(b, v[k], depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	return nil, fmt.Errorf("toml: encode: unsupported value type %T", v)
}
