package grammar

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// FuzzCompileSchema: any input either is refused with an error or
// compiles to a grammar whose random outputs validate against the schema
// (judged by an independent JSON Schema implementation, when it accepts
// the schema too).
func FuzzCompileSchema(f *testing.F) {
	for _, s := range schemas {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"type":"object","properties":{"a":{"$ref":"#/properties/b"},"b":{"type":"integer"}}}`))
	f.Add([]byte(`{"anyOf":[{"type":"string"},{"type":"string","maxLength":1}]}`))
	v := syntheticVocab(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := CompileSchema(data)
		if err != nil {
			return
		}
		if g.MinBytes() > 1000 {
			return // valid, but too slow to walk byte by byte here
		}
		var val *jsonschema.Schema
		if !bytes.Contains(data, []byte("oneOf")) {
			// oneOf is generated as anyOf: overlapping branches can
			// produce a value matching several, which oneOf refuses.
			val = fuzzValidator(data)
		}
		rng := rand.New(rand.NewPCG(uint64(len(data)), 7))
		for i := 0; i < 4; i++ {
			out, ok := walk(t, g, v, rng, g.MinBytes()+rng.IntN(30), 0)
			if !ok {
				t.Fatalf("incomplete output %q", out)
			}
			if val != nil {
				checkDoc(t, val, string(data), out)
			}
		}
	})
}

// fuzzValidator compiles schema with the reference implementation, or
// returns nil when it refuses it (e.g. not a valid schema document).
func fuzzValidator(schema []byte) *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if c.AddResource("schema.json", doc) != nil {
		return nil
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		return nil
	}
	return s
}

// FuzzMatcher feeds arbitrary token sequences: Accept takes exactly the
// tokens Mask allows, and whenever the matcher says the output is
// complete, it is a valid document.
func FuzzMatcher(f *testing.F) {
	v := syntheticVocab(f)
	type target struct {
		schema string
		g      *Grammar
		val    *jsonschema.Schema
	}
	var targets []target
	for _, s := range []string{
		`true`,
		schemas[3],
		`{"type":"array","items":{"type":"string","maxLength":3},"maxItems":3}`,
		`{"type":"object","properties":{"a":{"type":"number","minimum":-2,"maximum":7.5}},"additionalProperties":{"enum":["red","green"]}}`,
		`{"type":"string","pattern":"^a(b|c)*d$"}`,
	} {
		g, err := CompileSchema([]byte(s))
		if err != nil {
			f.Fatal(err)
		}
		targets = append(targets, target{s, g, validator(f, s)})
	}
	f.Add([]byte{0, '{', '"', 'a', '"', ':', '1', '}'})
	f.Add([]byte{1, '{', '"', 'n', 'a', 'm', 'e', '"', ':', '"', '"', ',', '"', 'a', 'g', 'e', '"', ':', '7', '}'})
	f.Add([]byte{2, '[', '"', 0xe6, 0x97, 0xa5, '"', ']'})
	f.Add([]byte{4, '"', 'a', 'b', 'c', 'd', '"'})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		tg := targets[int(data[0])%len(targets)]
		m, err := tg.g.NewMatcher(v)
		if err != nil {
			t.Fatal(err)
		}
		mask := make([]uint64, v.MaskWords())
		var out []byte
		for i := 1; i < len(data); i++ {
			id := int32(data[i])
			if i+1 < len(data) && data[i] == 0xFF {
				// 0xFF escapes to the multi-byte tokens after the bytes.
				i++
				id = 256 + int32(data[i])%int32(v.Size()-256)
			}
			m.Mask(mask, NoBudget)
			allowed := Allowed(mask, id)
			err := m.Accept(id)
			if allowed != (err == nil) {
				t.Fatalf("token %d: mask says %v, Accept says %v (after %q)", id, allowed, err, out)
			}
			if err != nil {
				if !errors.Is(err, ErrRejected) {
					t.Fatalf("error %v does not wrap ErrRejected", err)
				}
				continue
			}
			if v.IsEOG(id) {
				break
			}
			out = append(out, v.pieces[id]...)
			if m.Accepting() {
				checkDoc(t, tg.val, tg.schema, out)
			}
		}
	})
}
