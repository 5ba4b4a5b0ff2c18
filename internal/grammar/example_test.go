package grammar_test

import (
	"fmt"

	"github.com/raym33/ainative/internal/grammar"
)

// The decoding loop: mask, sample among the allowed tokens, accept.
func Example() {
	// A toy vocabulary: every byte is a token, plus an end-of-generation
	// token. A real one comes from grammar.FromTokenizer, once per model.
	pieces := make([][]byte, 257)
	for b := range 256 {
		pieces[b] = []byte{byte(b)}
	}
	eos := int32(256)
	v, _ := grammar.NewVocab(pieces, []int32{eos})

	g, err := grammar.CompileSchema([]byte(`{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"]}`))
	if err != nil {
		fmt.Println(err) // a *grammar.SchemaError naming the keyword: answer 400
		return
	}
	m, _ := g.NewMatcher(v)
	mask := make([]uint64, v.MaskWords())
	budget := 16 // num_predict
	var out []byte
	for left := budget; left > 0 && !m.Done(); left-- {
		m.Mask(mask, left)
		// Here: grammar.ApplyMask(logits, mask); id := sampler.Sample(logits, history).
		// This stand-in sampler takes the highest allowed id.
		id := int32(v.Size() - 1)
		for !grammar.Allowed(mask, id) {
			id--
		}
		if err := m.Accept(id); err != nil {
			panic(err) // cannot happen for an allowed token
		}
		if id == eos {
			break
		}
		out = append(out, pieces[id]...)
	}
	fmt.Printf("%q\n", out)
	// Output: "{\"ok\":true}"
}

func ExampleCompileSchema_unsupported() {
	_, err := grammar.CompileSchema([]byte(`{"type":"integer","multipleOf":5}`))
	fmt.Println(err)
	// Output: grammar: schema at /: keyword "multipleOf": not supported
}
