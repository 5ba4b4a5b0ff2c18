package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ardanlabs/jinja"
)

// maxJSONDepth bounds the nesting of client JSON turned into template
// values, so a hostile request cannot exhaust the stack.
const maxJSONDepth = 128

// jsonValue decodes one JSON value into a template value, keeping object
// keys in the order they were sent (tojson of a tool then prints what the
// client sent, as transformers does with Python dicts). Integers stay
// integers and numbers with a fraction or exponent become floats, as
// Python's json.loads makes them.
func jsonValue(data []byte) (jinja.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return jinja.Undefined(), err
	}
	if _, err := dec.Token(); err != io.EOF {
		return jinja.Undefined(), errors.New("invalid JSON: data after the value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (jinja.Value, error) {
	if depth > maxJSONDepth {
		return jinja.Undefined(), fmt.Errorf("invalid JSON: nested deeper than %d", maxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return jinja.Undefined(), fmt.Errorf("invalid JSON: %w", err)
	}
	switch t := tok.(type) {
	case nil:
		return jinja.None(), nil
	case bool:
		return jinja.NewBool(t), nil
	case string:
		return jinja.NewString(t), nil
	case json.Number:
		return numberValue(t), nil
	case json.Delim:
		switch t {
		case '[':
			var items []jinja.Value
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return jinja.Undefined(), err
				}
				items = append(items, v)
			}
			if _, err := dec.Token(); err != nil {
				return jinja.Undefined(), fmt.Errorf("invalid JSON: %w", err)
			}
			return jinja.NewList(items), nil
		case '{':
			d := jinja.NewDict()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return jinja.Undefined(), fmt.Errorf("invalid JSON: %w", err)
				}
				key, ok := kt.(string)
				if !ok {
					return jinja.Undefined(), errors.New("invalid JSON: object key is not a string")
				}
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return jinja.Undefined(), err
				}
				d.AsDict().Set(key, v)
			}
			if _, err := dec.Token(); err != nil {
				return jinja.Undefined(), fmt.Errorf("invalid JSON: %w", err)
			}
			return d, nil
		}
	}
	return jinja.Undefined(), fmt.Errorf("invalid JSON: unexpected %v", tok)
}

// numberValue makes an integer of a number without fraction or exponent
// that fits in 64 bits and a float of the rest, as json.loads does (an
// integer too big for 64 bits, which Python keeps exact, becomes the
// nearest float; a float beyond range is ±Inf, as in Python).
func numberValue(n json.Number) jinja.Value {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return jinja.NewInt(i)
		}
	}
	f, _ := strconv.ParseFloat(s, 64) // the decoder vetted the syntax; ErrRange gives ±Inf
	return jinja.NewFloat(f)
}

// dict builds an insertion-ordered template dict from alternating keys and
// values.
func dict(kv ...any) jinja.Value {
	d := jinja.NewDict()
	for i := 0; i+1 < len(kv); i += 2 {
		d.AsDict().Set(kv[i].(string), kv[i+1].(jinja.Value))
	}
	return d
}

// pyJSON holds json.dumps's formatting options.
type pyJSON struct {
	indent   string // "" with hasIndent false: one line
	hasIdent bool
	itemSep  string
	keySep   string
	sortKeys bool
}

// dumps encodes v exactly as Python's json.dumps(v, ensure_ascii=False, ...)
// does, which is what transformers' tojson filter calls.
func (o pyJSON) dumps(v jinja.Value) (string, error) {
	var sb strings.Builder
	if err := o.encode(&sb, v, 0); err != nil {
		return "", err
	}
	return sb.String(), nil
}

func (o pyJSON) newline(sb *strings.Builder, level int) {
	sb.WriteByte('\n')
	for range level {
		sb.WriteString(o.indent)
	}
}

func (o pyJSON) encode(sb *strings.Builder, v jinja.Value, level int) error {
	if level > maxJSONDepth {
		return fmt.Errorf("tojson: value nested deeper than %d", maxJSONDepth)
	}
	switch {
	case v.IsNone():
		sb.WriteString("null")
	case v.IsBool():
		if v.AsBool() {
			sb.WriteString("true")
		} else {
			sb.WriteString("false")
		}
	case v.IsInt():
		fmt.Fprintf(sb, "%d", v.AsInt())
	case v.IsFloat():
		sb.WriteString(pyFloat(v.AsFloat()))
	case v.IsString():
		pyString(sb, v.AsString())
	case v.IsList():
		items := v.AsList().Items
		if len(items) == 0 {
			sb.WriteString("[]")
			return nil
		}
		sb.WriteByte('[')
		for i, item := range items {
			if i > 0 {
				sb.WriteString(o.itemSep)
			}
			if o.hasIdent {
				o.newline(sb, level+1)
			}
			if err := o.encode(sb, item, level+1); err != nil {
				return err
			}
		}
		if o.hasIdent {
			o.newline(sb, level)
		}
		sb.WriteByte(']')
	case v.IsDict():
		d := v.AsDict()
		keys := d.OrderedKeys()
		if len(keys) == 0 {
			sb.WriteString("{}")
			return nil
		}
		if o.sortKeys {
			sortStrings(keys)
		}
		sb.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				sb.WriteString(o.itemSep)
			}
			if o.hasIdent {
				o.newline(sb, level+1)
			}
			pyString(sb, k)
			sb.WriteString(o.keySep)
			val, _ := d.Get(k)
			if err := o.encode(sb, val, level+1); err != nil {
				return err
			}
		}
		if o.hasIdent {
			o.newline(sb, level)
		}
		sb.WriteByte('}')
	case v.IsUndefined():
		return errors.New("tojson: value is undefined")
	default:
		return errors.New("tojson: value is not JSON serializable")
	}
	return nil
}

// pyString writes s as json.dumps(s, ensure_ascii=False) does: only '"',
// '\\' and control characters below U+0020 are escaped, the short forms
// for \b \f \n \r \t and lower-case \u00XX for the rest.
func pyString(sb *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	sb.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			sb.WriteString(`\"`)
		case '\\':
			sb.WriteString(`\\`)
		case '\b':
			sb.WriteString(`\b`)
		case '\f':
			sb.WriteString(`\f`)
		case '\n':
			sb.WriteString(`\n`)
		case '\r':
			sb.WriteString(`\r`)
		case '\t':
			sb.WriteString(`\t`)
		default:
			if r < 0x20 {
				sb.WriteString(`\u00`)
				sb.WriteByte(hex[r>>4])
				sb.WriteByte(hex[r&0xf])
			} else {
				sb.WriteRune(r)
			}
		}
	}
	sb.WriteByte('"')
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
