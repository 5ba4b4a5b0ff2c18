package grammar

import (
	"bytes"
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/testdata"
	"github.com/raym33/ainative/internal/tokenizer"
)

// syntheticVocab has every single byte, multi-byte tokens that span
// several grammar symbols (`{"`, `":`, `"},`, `\u00`), UTF-8 characters
// and fragments of them, and an end-of-generation token (the last id).
func syntheticVocab(t testing.TB) *Vocab {
	t.Helper()
	var pieces [][]byte
	for b := 0; b < 256; b++ {
		pieces = append(pieces, []byte{byte(b)})
	}
	for _, s := range []string{
		`{"`, `":`, `": `, `",`, `","`, `"}`, `"},`, `"}]`, `}]`, `]}`, `[{`, `[]`, `{}`, `{"a`, `name`, `"name": "`,
		`true`, `false`, `null`, `nul`, `tr`, `0.`, `12`, `-1`, `e+`, `E-`, `.5`, `00`, `1e`,
		`\u00`, `\u`, `\"`, `\\`, `\n`, `\ud8`, `\uD834`, "\n  ", "\n\n", "  ", "\t",
		"é", "日本", "\xe6\x97", "\xa5", "😀", "\xf0\x9f", "\x98\x80", "a\"", "x\\",
		"2024-", "-01-", "T12:", "Z\"", "@ex", ".com", "abc", "-", "ab", "ba", "aab",
		`"x"`, `"y"`, `"red"`, `"green"`, `", "`, `, `, `,"`, `["`, `"]`, `"a":1`, `":[`, `":{`, `0`, `1`, `9`,
	} {
		pieces = append(pieces, []byte(s))
	}
	pieces = append(pieces, []byte("</s>"))
	v, err := NewVocab(pieces, []int32{int32(len(pieces) - 1)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var (
	realVocabs   = map[string]*Vocab{}
	realVocabsMu sync.Mutex
)

// realVocab loads a model's vocabulary through internal/tokenizer.
func realVocab(t testing.TB, name string) *Vocab {
	t.Helper()
	path := testdata.Path(t, "tokenizers", name+"-vocab.gguf")
	realVocabsMu.Lock()
	defer realVocabsMu.Unlock()
	if v := realVocabs[name]; v != nil {
		return v
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	v, err := FromTokenizer(tok)
	if err != nil {
		t.Fatal(err)
	}
	realVocabs[name] = v
	return v
}

// validator compiles schema with an independent JSON Schema
// implementation, asserting formats.
func validator(t testing.TB, schema string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(schema)))
	if err != nil {
		t.Fatalf("schema %s: %v", schema, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		t.Fatalf("schema %s: %v", schema, err)
	}
	return s
}

// checkDoc fails t unless out is one JSON document valid against s.
func checkDoc(t testing.TB, s *jsonschema.Schema, schema string, out []byte) {
	t.Helper()
	if !utf8.Valid(out) {
		t.Fatalf("schema %s: output is not UTF-8: %q", schema, out)
	}
	if !json.Valid(out) {
		t.Fatalf("schema %s: output is not JSON: %q", schema, out)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("schema %s: output %q: %v", schema, out, err)
	}
	if err := s.Validate(inst); err != nil {
		t.Fatalf("schema %s: output %q does not validate: %v", schema, out, err)
	}
}

// walk generates one document choosing uniformly among the allowed
// tokens, with budget tokens at most (NoBudget: stop after maxSteps or
// at the end of generation). It returns the bytes and whether the
// matcher reached the end (a complete document).
func walk(t testing.TB, g *Grammar, v *Vocab, rng *rand.Rand, budget, maxSteps int) ([]byte, bool) {
	t.Helper()
	m, err := g.NewMatcher(v)
	if err != nil {
		t.Fatal(err)
	}
	mask := make([]uint64, v.MaskWords())
	var out []byte
	for step := 0; ; step++ {
		left := NoBudget
		if budget != NoBudget {
			left = budget - step
			if left == 0 {
				return out, m.Accepting() || m.Done()
			}
		} else if step == maxSteps {
			return out, false
		}
		n := m.Mask(mask, left)
		if n == 0 {
			if !m.Done() {
				t.Fatalf("empty mask before the document is done, after %q", out)
			}
			return out, true
		}
		id := pick(mask, n, rng)
		if err := m.Accept(id); err != nil {
			t.Fatalf("masked token %d (%q) rejected after %q: %v", id, v.pieces[id], out, err)
		}
		if v.IsEOG(id) {
			return out, true
		}
		out = append(out, v.pieces[id]...)
	}
}

// pick returns a uniformly chosen set bit of mask, which has n set.
func pick(mask []uint64, n int, rng *rand.Rand) int32 {
	k := rng.IntN(n)
	for i, w := range mask {
		c := bits.OnesCount64(w)
		if k < c {
			for ; ; k-- {
				b := bits.TrailingZeros64(w)
				if k == 0 {
					return int32(i*64 + b)
				}
				w &= w - 1
			}
		}
		k -= c
	}
	panic("pick: fewer bits than counted")
}
