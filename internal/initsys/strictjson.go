package initsys

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// decodeStrict decodes the JSON object data into v, a pointer to a
// struct, more strictly than encoding/json: object keys must match the
// json tags exactly (encoding/json ignores case, so {"NAME": ...} would
// set Name), a key may appear only once, unknown keys are errors, and
// nothing but white space may follow the object. Errors are *fieldError,
// naming the key path and position, or *json.SyntaxError.
//
// encoding/json/v2 does all of this, but only behind GOEXPERIMENT=jsonv2
// in this Go release; the configuration types need only structs, slices,
// string-keyed maps, scalars and json.Unmarshaler, which is all this
// handles.
func decodeStrict(data []byte, v any) error {
	d := &strictDecoder{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	d.dec.UseNumber()
	if err := d.value(reflect.ValueOf(v).Elem(), nil); err != nil {
		return err
	}
	end := d.dec.InputOffset()
	for end < int64(len(data)) && strings.IndexByte(" \t\r\n", data[end]) >= 0 {
		end++
	}
	if end < int64(len(data)) {
		return &fieldError{Offset: end, Err: errors.New("unexpected data after the configuration object")}
	}
	return nil
}

// fieldError is a decoding error at a key path such as services[1].backoff.
type fieldError struct {
	Path   []any // object keys (string) and array indices (int)
	Offset int64 // in the input, where the value starts
	Err    error
}

func (e *fieldError) Error() string { return pathString(e.Path) + ": " + e.Err.Error() }

func (e *fieldError) Unwrap() error { return e.Err }

// pathString writes a key path as services[1].backoff.initial.
func pathString(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		}
	}
	return b.String()
}

type strictDecoder struct {
	data []byte
	dec  *json.Decoder
}

// start returns the offset of the next value: the decoder's offset is
// where the previous token ended, before white space, ':' or ','.
func (d *strictDecoder) start() int64 {
	off := d.dec.InputOffset()
	for off < int64(len(d.data)) && strings.IndexByte(" \t\r\n:,", d.data[off]) >= 0 {
		off++
	}
	return off
}

func (d *strictDecoder) fail(path []any, off int64, format string, args ...any) error {
	return &fieldError{Path: append([]any(nil), path...), Offset: off, Err: fmt.Errorf(format, args...)}
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func (d *strictDecoder) value(v reflect.Value, path []any) error {
	off := d.start()
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		var raw json.RawMessage
		if err := d.dec.Decode(&raw); err != nil {
			return err
		}
		if err := v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(raw); err != nil {
			return &fieldError{Path: append([]any(nil), path...), Offset: off, Err: err}
		}
		return nil
	}
	tok, err := d.dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		v.SetZero() // null: as encoding/json, the zero value
		return nil
	}
	switch v.Kind() {
	case reflect.Struct:
		if tok != json.Delim('{') {
			return d.fail(path, off, "want an object, got %s", describe(tok))
		}
		return d.object(path, func(key string, keyOff int64) error {
			f, ok := fieldByTag(v.Type(), key)
			if !ok {
				if exact, ok := fieldByTagFold(v.Type(), key); ok {
					return d.fail(path, keyOff, "unknown key %q; keys are case-sensitive: %q", key, exact)
				}
				return d.fail(path, keyOff, "unknown key %q (known: %s)", key, strings.Join(tags(v.Type()), ", "))
			}
			return d.value(v.FieldByIndex(f.Index), append(path, key))
		})
	case reflect.Map:
		if tok != json.Delim('{') || v.Type().Key().Kind() != reflect.String {
			return d.fail(path, off, "want an object, got %s", describe(tok))
		}
		m := reflect.MakeMap(v.Type())
		err := d.object(path, func(key string, _ int64) error {
			e := reflect.New(v.Type().Elem()).Elem()
			if err := d.value(e, append(path, key)); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), e)
			return nil
		})
		v.Set(m)
		return err
	case reflect.Slice:
		if tok != json.Delim('[') {
			return d.fail(path, off, "want an array, got %s", describe(tok))
		}
		s := reflect.MakeSlice(v.Type(), 0, 0)
		for i := 0; d.dec.More(); i++ {
			e := reflect.New(v.Type().Elem()).Elem()
			if err := d.value(e, append(path, i)); err != nil {
				return err
			}
			s = reflect.Append(s, e)
		}
		v.Set(s)
		_, err := d.dec.Token() // ]
		return err
	case reflect.String:
		s, ok := tok.(string)
		if !ok {
			return d.fail(path, off, "want a string, got %s", describe(tok))
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := tok.(bool)
		if !ok {
			return d.fail(path, off, "want true or false, got %s", describe(tok))
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := tok.(json.Number)
		i, err := strconv.ParseInt(string(n), 10, v.Type().Bits())
		if !ok || err != nil {
			return d.fail(path, off, "want an integer, got %s", describe(tok))
		}
		v.SetInt(i)
	default:
		return d.fail(path, off, "cannot decode into %v", v.Type())
	}
	return nil
}

// object reads the keys and values of an object whose '{' was read,
// calling each for every key (given once only) to read its value.
func (d *strictDecoder) object(path []any, each func(key string, off int64) error) error {
	seen := map[string]bool{}
	for d.dec.More() {
		off := d.start()
		tok, err := d.dec.Token()
		if err != nil {
			return err
		}
		key := tok.(string) // the decoder checks that keys are strings
		if seen[key] {
			return d.fail(path, off, "key %q given twice", key)
		}
		seen[key] = true
		if err := each(key, off); err != nil {
			return err
		}
	}
	_, err := d.dec.Token() // }
	return err
}

func describe(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return fmt.Sprintf("the string %q", t)
	case json.Number:
		return "the number " + string(t)
	case bool:
		return strconv.FormatBool(t)
	}
	return "null"
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for _, f := range reflect.VisibleFields(t) {
		if tagName(f) == key && key != "" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func fieldByTagFold(t reflect.Type, key string) (string, bool) {
	for _, name := range tags(t) {
		if strings.EqualFold(name, key) {
			return name, true
		}
	}
	return "", false
}

func tags(t reflect.Type) []string {
	var out []string
	for _, f := range reflect.VisibleFields(t) {
		if n := tagName(f); n != "" {
			out = append(out, n)
		}
	}
	return out
}
