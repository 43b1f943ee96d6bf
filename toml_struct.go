package rip

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
)

// This file maps parsed TOML onto Go structs (tomlDecode) and implements the
// dotted-path helpers of the admin CLI (tomlGetPath, tomlSetPath, tomlPaths).
//
// Struct fields take part when tagged `toml:"name"`; untagged fields and
// `toml:"-"` are ignored. Supported field types: string kinds (including
// named types such as Secret), bool, signed and unsigned integers (range
// checked), floats, time.Duration (a TOML string such as "1h30m"), slices of
// those, structs, pointers to structs, and maps with string keys whose values
// are any of those except slices. Anything else is a programmer error that
// every entry point reports before touching data.

var tomlDurationType = reflect.TypeFor[time.Duration]()

// tomlField is one tagged struct field.
type tomlField struct {
	name  string
	index int
}

// tomlFieldsOf lists the tagged fields of struct type t in declaration order.
func tomlFieldsOf(t reflect.Type) []tomlField {
	var fields []tomlField
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if name != "" && name != "-" {
			fields = append(fields, tomlField{name: name, index: i})
		}
	}
	return fields
}

func tomlFieldIndex(t reflect.Type, name string) (int, bool) {
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if tag == name && name != "" && name != "-" {
			return i, true
		}
	}
	return 0, false
}

func tomlIsScalarType(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// tomlIsTableType reports whether values of t are written as TOML tables.
func tomlIsTableType(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return true
	case reflect.Pointer:
		return t.Elem().Kind() == reflect.Struct
	}
	return false
}

// tomlIsStringLike reports whether a field is written as a TOML string.
func tomlIsStringLike(t reflect.Type) bool {
	return t == tomlDurationType || t.Kind() == reflect.String
}

// tomlCheckType reports struct types that tomlDecode and tomlEncode cannot
// map: unsupported field types, tags on unexported fields, duplicate names.
func tomlCheckType(t reflect.Type) error {
	if t.Kind() != reflect.Struct {
		return fmt.Errorf("toml: need a struct type, got %s", t)
	}
	return tomlCheckTypeIn(t, t.String(), map[reflect.Type]bool{})
}

func tomlCheckTypeIn(t reflect.Type, where string, seen map[reflect.Type]bool) error {
	switch {
	case tomlIsScalarType(t):
		return nil
	case t.Kind() == reflect.Slice && tomlIsScalarType(t.Elem()):
		return nil
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		return tomlCheckTypeIn(t.Elem(), where, seen)
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String &&
		(tomlIsScalarType(t.Elem()) || tomlIsTableType(t.Elem()) && t.Elem().Kind() != reflect.Map):
		return tomlCheckTypeIn(t.Elem(), where+"[key]", seen)
	case t.Kind() != reflect.Struct:
		return fmt.Errorf("toml: unsupported Go type %s at %s", t, where)
	}
	if seen[t] {
		return nil
	}
	seen[t] = true
	names := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		if !f.IsExported() {
			return fmt.Errorf("toml: field %s.%s has a toml tag but is unexported", t, f.Name)
		}
		if names[name] {
			return fmt.Errorf("toml: two fields of %s are tagged %q", t, name)
		}
		names[name] = true
		if err := tomlCheckTypeIn(f.Type, t.String()+"."+f.Name, seen); err != nil {
			return err
		}
	}
	return nil
}

// tomlDecode decodes TOML src over the struct that v points to. Keys absent
// from src keep the struct's current values (the caller pre-fills defaults);
// map entries are merged key by key; arrays replace slices whole. Every
// problem is reported at once (errors.Join), and v is left unchanged unless
// decoding succeeds: the decoder works on a copy and copies pointed-to
// structs and maps before changing them, so shared defaults are never
// mutated.
//
// # Security
//
// The TOML is untrusted (see tomlParse). Decoding is strict so that a typo
// cannot silently leave a security setting at its default: an unknown key is
// an error naming its dotted path, a value of the wrong type is an error
// naming the key and the expected type, integers are range-checked against
// the field type, and durations must be strings that time.ParseDuration
// accepts.
func tomlDecode(src []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("toml: decode needs a non-nil pointer to a struct, got %T", v)
	}
	if err := tomlCheckType(rv.Elem().Type()); err != nil {
		return err
	}
	tree, err := tomlParse(src)
	if err != nil {
		return err
	}
	work := reflect.New(rv.Elem().Type()).Elem()
	work.Set(rv.Elem())
	var d tomlDecoder
	d.structTable(work, tree, "")
	if len(d.errs) > 0 {
		return errors.Join(d.errs...)
	}
	rv.Elem().Set(work)
	return nil
}

// tomlDecoder collects the problems found while mapping a tree onto a struct.
type tomlDecoder struct {
	errs []error
}

func (d *tomlDecoder) errorf(format string, args ...any) {
	d.errs = append(d.errs, fmt.Errorf("toml: "+format, args...))
}

func (d *tomlDecoder) mismatch(path, want string, v any) {
	d.errorf("key %s: expected %s, got %s", path, want, tomlTypeName(v))
}

// tomlJoinPath appends key to a dotted display path.
func tomlJoinPath(path, key string) string {
	if path == "" {
		return string(tomlAppendKey(nil, key))
	}
	return path + "." + string(tomlAppendKey(nil, key))
}

func tomlTypeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case tomlDatetime:
		return "date-time"
	case []any:
		return "array"
	case map[string]any:
		return "table"
	}
	return fmt.Sprintf("%T", v)
}

// structTable decodes table t over the settable struct dst, in sorted key
// order so that errors come out in a stable order.
func (d *tomlDecoder) structTable(dst reflect.Value, t map[string]any, path string) {
	for _, k := range slices.Sorted(maps.Keys(t)) {
		sub := tomlJoinPath(path, k)
		i, ok := tomlFieldIndex(dst.Type(), k)
		if !ok {
			d.errorf("unknown key %s", sub)
			continue
		}
		d.value(dst.Field(i), t[k], sub)
	}
}

// value decodes v into the settable dst.
func (d *tomlDecoder) value(dst reflect.Value, v any, path string) {
	t := dst.Type()
	switch {
	case t == tomlDurationType:
		d.duration(dst, v, path)
	case t.Kind() == reflect.String:
		s, ok := v.(string)
		if !ok {
			d.mismatch(path, "string", v)
			return
		}
		dst.SetString(s)
	case t.Kind() == reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			d.mismatch(path, "boolean", v)
			return
		}
		dst.SetBool(b)
	case tomlIsScalarType(t) && t.Kind() != reflect.Float32 && t.Kind() != reflect.Float64:
		d.integer(dst, v, path)
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		d.float(dst, v, path)
	case t.Kind() == reflect.Slice:
		d.slice(dst, v, path)
	case t.Kind() == reflect.Struct:
		tab, ok := v.(map[string]any)
		if !ok {
			d.mismatch(path, "table", v)
			return
		}
		d.structTable(dst, tab, path)
	case t.Kind() == reflect.Pointer:
		tab, ok := v.(map[string]any)
		if !ok {
			d.mismatch(path, "table", v)
			return
		}
		fresh := reflect.New(t.Elem())
		if !dst.IsNil() {
			fresh.Elem().Set(dst.Elem())
		}
		d.structTable(fresh.Elem(), tab, path)
		dst.Set(fresh)
	case t.Kind() == reflect.Map:
		d.mapTable(dst, v, path)
	default:
		d.errorf("key %s: unsupported Go type %s", path, t)
	}
}

func (d *tomlDecoder) duration(dst reflect.Value, v any, path string) {
	s, ok := v.(string)
	if !ok {
		d.mismatch(path, `duration string such as "45m"`, v)
		return
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		d.errorf("key %s: invalid duration %q (want a string such as \"45m\" or \"1h30m\")", path, s)
		return
	}
	dst.SetInt(int64(dur))
}

func (d *tomlDecoder) integer(dst reflect.Value, v any, path string) {
	n, ok := v.(int64)
	if !ok {
		d.mismatch(path, "integer", v)
		return
	}
	switch dst.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n < 0 || dst.OverflowUint(uint64(n)) {
			d.errorf("key %s: %d is out of range for %s", path, n, dst.Type())
			return
		}
		dst.SetUint(uint64(n))
	default:
		if dst.OverflowInt(n) {
			d.errorf("key %s: %d is out of range for %s", path, n, dst.Type())
			return
		}
		dst.SetInt(n)
	}
}

// float accepts a TOML float, or an integer that converts exactly, so that
// "ratio = 1" works for a float field.
func (d *tomlDecoder) float(dst reflect.Value, v any, path string) {
	var f float64
	switch v := v.(type) {
	case float64:
		f = v
	case int64:
		f = float64(v)
		if v > 1<<53 || v < -(1<<53) {
			d.errorf("key %s: integer %d cannot be represented exactly as a float", path, v)
			return
		}
	default:
		d.mismatch(path, "float", v)
		return
	}
	if dst.OverflowFloat(f) {
		d.errorf("key %s: %v is out of range for %s", path, f, dst.Type())
		return
	}
	dst.SetFloat(f)
}

func (d *tomlDecoder) slice(dst reflect.Value, v any, path string) {
	arr, ok := v.([]any)
	if !ok {
		d.mismatch(path, "array", v)
		return
	}
	out := reflect.MakeSlice(dst.Type(), len(arr), len(arr))
	before := len(d.errs)
	for i, e := range arr {
		d.value(out.Index(i), e, fmt.Sprintf("%s[%d]", path, i))
	}
	if len(d.errs) == before {
		dst.Set(out)
	}
}

// mapTable merges table v into the map dst: entries named in v are decoded
// over a copy of the existing entry (or a zero value); other entries stay.
func (d *tomlDecoder) mapTable(dst reflect.Value, v any, path string) {
	tab, ok := v.(map[string]any)
	if !ok {
		d.mismatch(path, "table", v)
		return
	}
	t := dst.Type()
	out := reflect.MakeMapWithSize(t, dst.Len()+len(tab))
	for it := dst.MapRange(); it.Next(); {
		out.SetMapIndex(it.Key(), it.Value())
	}
	for _, k := range slices.Sorted(maps.Keys(tab)) {
		key := reflect.ValueOf(k).Convert(t.Key())
		elem := reflect.New(t.Elem()).Elem()
		if old := dst.MapIndex(key); old.IsValid() {
			elem.Set(old)
		}
		d.value(elem, tab[k], tomlJoinPath(path, k))
		out.SetMapIndex(key, elem)
	}
	dst.Set(out)
}

// tomlParseValue parses one TOML value, such as `"45m"`, `true` or
// `["a", "b"]`, with optional blanks around it.
func tomlParseValue(literal string) (any, error) {
	src, err := tomlPrepare([]byte(literal))
	if err != nil {
		return nil, err
	}
	p := &tomlParser{src: src}
	p.skipWS()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.pos != len(p.src) {
		return nil, p.unexpected(p.pos, "end of value")
	}
	return v, nil
}

// tomlParseKeyPath parses a dotted key such as oauth2_providers.google.client_id
// or a."b.c" into its parts.
func tomlParseKeyPath(path string) ([]string, error) {
	src, err := tomlPrepare([]byte(path))
	if err != nil {
		return nil, err
	}
	p := &tomlParser{src: src}
	keys, err := p.key()
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.pos != len(p.src) {
		return nil, p.unexpected(p.pos, "end of key")
	}
	return keys, nil
}

// tomlGetPath returns the TOML literal of the leaf at the dotted path, for
// example `"45m"`, `true` or `["a", "b"]`. A nil pointer to a struct reads
// as that struct's zero value.
func tomlGetPath(v any, path string) (string, error) {
	rv, err := tomlStructOf(v)
	if err != nil {
		return "", err
	}
	if err := tomlCheckType(rv.Type()); err != nil {
		return "", err
	}
	keys, err := tomlParseKeyPath(path)
	if err != nil {
		return "", fmt.Errorf("toml: key %q: %w", path, err)
	}
	cur, shown := rv, ""
	for _, k := range keys {
		if cur.Kind() == reflect.Pointer {
			if cur.IsNil() {
				cur = reflect.Zero(cur.Type().Elem())
			} else {
				cur = cur.Elem()
			}
		}
		parent := shown
		shown = tomlJoinPath(shown, k)
		switch cur.Kind() {
		case reflect.Struct:
			i, ok := tomlFieldIndex(cur.Type(), k)
			if !ok {
				return "", fmt.Errorf("toml: unknown key %s", shown)
			}
			cur = cur.Field(i)
		case reflect.Map:
			e := cur.MapIndex(reflect.ValueOf(k).Convert(cur.Type().Key()))
			if !e.IsValid() {
				return "", fmt.Errorf("toml: unknown key %s", shown)
			}
			cur = e
		default:
			return "", fmt.Errorf("toml: key %s is a value, not a table", parent)
		}
	}
	if tomlIsTableType(cur.Type()) {
		return "", fmt.Errorf("toml: key %s is a table, not a value", shown)
	}
	b, err := tomlAppendReflect(nil, cur, keys)
	return string(b), err
}

// tomlSetPath sets the leaf at the dotted path from a TOML literal. For
// string and duration fields, a literal that is not a TOML string is taken
// as the raw text, so `ripc config set server.addr :8080` works unquoted. A
// missing map entry on the path is created, which is how a new OAuth2
// provider is added. v is unchanged on error.
//
// # Security
//
// The literal comes from an operator's command line and goes through the
// same strict parser and type checks as a whole document (tomlParseValue,
// tomlDecoder): an integer out of range, a bad duration or a wrong type is an
// error, and the raw-text fallback can only ever produce a string.
func tomlSetPath(v any, path, literal string) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("toml: set needs a non-nil pointer to a struct, got %T", v)
	}
	if err := tomlCheckType(rv.Elem().Type()); err != nil {
		return err
	}
	keys, err := tomlParseKeyPath(path)
	if err != nil {
		return fmt.Errorf("toml: key %q: %w", path, err)
	}
	return tomlSetIn(rv.Elem(), keys, "", literal)
}

// tomlSetIn walks keys from the settable value cur (shown is its display
// path) and sets the leaf. Maps and pointed-to structs are copied before they
// change, so nothing changes unless the leaf is set.
func tomlSetIn(cur reflect.Value, keys []string, shown, literal string) error {
	if len(keys) == 0 {
		return tomlSetLeaf(cur, literal, shown)
	}
	k, sub := keys[0], tomlJoinPath(shown, keys[0])
	switch cur.Kind() {
	case reflect.Pointer:
		fresh := reflect.New(cur.Type().Elem())
		if !cur.IsNil() {
			fresh.Elem().Set(cur.Elem())
		}
		if err := tomlSetIn(fresh.Elem(), keys, shown, literal); err != nil {
			return err
		}
		cur.Set(fresh)
		return nil
	case reflect.Struct:
		i, ok := tomlFieldIndex(cur.Type(), k)
		if !ok {
			return fmt.Errorf("toml: unknown key %s", sub)
		}
		return tomlSetIn(cur.Field(i), keys[1:], sub, literal)
	case reflect.Map:
		key := reflect.ValueOf(k).Convert(cur.Type().Key())
		elem := reflect.New(cur.Type().Elem()).Elem()
		if old := cur.MapIndex(key); old.IsValid() {
			elem.Set(old)
		}
		if err := tomlSetIn(elem, keys[1:], sub, literal); err != nil {
			return err
		}
		out := reflect.MakeMapWithSize(cur.Type(), cur.Len()+1)
		for it := cur.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), it.Value())
		}
		out.SetMapIndex(key, elem)
		cur.Set(out)
		return nil
	}
	return fmt.Errorf("toml: key %s is a value, not a table", shown)
}

func tomlSetLeaf(dst reflect.Value, literal, shown string) error {
	if tomlIsTableType(dst.Type()) {
		return fmt.Errorf("toml: key %s is a table; set its keys one at a time", shown)
	}
	v, err := tomlParseValue(literal)
	if tomlIsStringLike(dst.Type()) {
		if _, isString := v.(string); err != nil || !isString {
			v, err = literal, nil
		}
	}
	if err != nil {
		return fmt.Errorf("toml: set %s: %w", shown, err)
	}
	tmp := reflect.New(dst.Type()).Elem()
	var d tomlDecoder
	d.value(tmp, v, shown)
	if len(d.errs) > 0 {
		return errors.Join(d.errs...)
	}
	dst.Set(tmp)
	return nil
}

// tomlPaths lists the dotted path of every leaf of v (a struct or pointer to
// one) in encoding order: struct fields in declaration order, map keys
// sorted. Leaves under nil pointers are listed too, since tomlSetPath can set
// them.
func tomlPaths(v any) []string {
	rv, err := tomlStructOf(v)
	if err != nil {
		return nil
	}
	var out []string
	tomlCollectPaths(rv, "", 0, &out)
	return out
}

func tomlCollectPaths(rv reflect.Value, shown string, depth int, out *[]string) {
	if depth > tomlMaxDepth {
		return
	}
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.Type().Elem().Kind() != reflect.Struct {
			return
		}
		if rv.IsNil() {
			rv = reflect.Zero(rv.Type().Elem())
		} else {
			rv = rv.Elem()
		}
		tomlCollectPaths(rv, shown, depth+1, out)
	case reflect.Struct:
		for _, f := range tomlFieldsOf(rv.Type()) {
			tomlCollectPaths(rv.Field(f.index), tomlJoinPath(shown, f.name), depth+1, out)
		}
	case reflect.Map:
		for _, k := range tomlSortedMapKeys(rv) {
			tomlCollectPaths(rv.MapIndex(k), tomlJoinPath(shown, k.String()), depth+1, out)
		}
	default:
		*out = append(*out, shown)
	}
}
