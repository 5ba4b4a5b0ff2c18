package grammar

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/sample"
)

// idOf returns the id of the token whose piece is s.
func idOf(t *testing.T, v *Vocab, s string) int32 {
	t.Helper()
	for id, p := range v.pieces {
		if string(p) == s {
			return int32(id)
		}
	}
	t.Fatalf("no token %q", s)
	return -1
}

func acceptAll(t *testing.T, m *Matcher, v *Vocab, pieces ...string) {
	t.Helper()
	for _, p := range pieces {
		if err := m.Accept(idOf(t, v, p)); err != nil {
			t.Fatalf("%q: %v", p, err)
		}
	}
}

func TestAcceptAndEOS(t *testing.T) {
	v := syntheticVocab(t)
	g, err := CompileSchema([]byte(`{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := g.NewMatcher(v)
	if err != nil {
		t.Fatal(err)
	}
	eos := int32(v.Size() - 1)
	if err := m.Accept(eos); !errors.Is(err, ErrRejected) {
		t.Fatalf("EOS before the document: %v", err)
	}
	if err := m.Accept(idOf(t, v, "[")); !errors.Is(err, ErrRejected) {
		t.Fatalf("'[' for an object: %v", err)
	}
	// Tokens spanning several symbols: `{"`, `name`, `": "`, then text.
	acceptAll(t, m, v, `{"`, `name`, `": `, `"`, `日本`, `é`, "\xe6\x97", "\xa5", `\"`, `"}`)
	if !m.Accepting() || m.Done() {
		t.Fatalf("complete document (whitespace may follow): accepting %v, done %v", m.Accepting(), m.Done())
	}
	mask := make([]uint64, v.MaskWords())
	if m.Mask(mask, NoBudget); !Allowed(mask, eos) || !Allowed(mask, idOf(t, v, " ")) || Allowed(mask, idOf(t, v, "1")) {
		t.Fatal("after the document: EOS and whitespace only")
	}
	acceptAll(t, m, v, "\n\n", "\t")
	for i := 1; i < maxIndent; i++ {
		acceptAll(t, m, v, " ")
	}
	if !m.Done() {
		t.Fatal("after the longest trailing whitespace nothing may follow: not Done")
	}
	if n := m.Mask(mask, NoBudget); n != 1 || !Allowed(mask, eos) {
		t.Fatalf("after the document only EOS may follow; got %d tokens", n)
	}
	if err := m.Accept(eos); err != nil {
		t.Fatal(err)
	}
	if n := m.Mask(mask, NoBudget); n != 0 {
		t.Fatalf("after EOS: %d tokens allowed", n)
	}
	if err := m.Accept(idOf(t, v, " ")); !errors.Is(err, ErrRejected) {
		t.Fatalf("token after EOS: %v", err)
	}
	if n := m.Mask(make([]uint64, 1), NoBudget); n != -1 {
		t.Fatalf("short mask: %d", n)
	}
}

func TestBoundedWhitespace(t *testing.T) {
	v := syntheticVocab(t)
	m, _ := JSON().NewMatcher(v)
	acceptAll(t, m, v, "[", "\n")
	for i := 0; i < maxIndent; i++ {
		acceptAll(t, m, v, " ")
	}
	if err := m.Accept(idOf(t, v, " ")); !errors.Is(err, ErrRejected) {
		t.Fatalf("21st space of indentation accepted: %v", err)
	}
	if err := m.Accept(idOf(t, v, "\n")); !errors.Is(err, ErrRejected) {
		t.Fatalf("newline after indentation accepted: %v", err)
	}
	acceptAll(t, m, v, "1", "]")
}

func TestMinTokensAndBudget(t *testing.T) {
	v := syntheticVocab(t)
	g, err := CompileSchema([]byte(`{"type":"object","properties":{"a":{"type":"string","minLength":3}},"required":["a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := g.NewMatcher(v)
	want := len(`{"a":"xxx"}`)
	if m.MinTokens() != want || g.MinBytes() != want {
		t.Fatalf("MinTokens %d, MinBytes %d, want %d", m.MinTokens(), g.MinBytes(), want)
	}
	mask := make([]uint64, v.MaskWords())
	// With exactly the minimum left, whitespace (which would leave too
	// little) is not allowed, but `{"` (two bytes, one token) is.
	m.Mask(mask, want)
	if Allowed(mask, idOf(t, v, " ")) || !Allowed(mask, idOf(t, v, `{"`)) || !Allowed(mask, idOf(t, v, "{")) {
		t.Fatal("tight budget: wrong tokens allowed")
	}
	// A budget too small for any document follows the shortest path.
	if n := m.Mask(mask, 2); n == 0 || Allowed(mask, idOf(t, v, " ")) {
		t.Fatalf("impossible budget: %d tokens, space allowed %v", n, Allowed(mask, idOf(t, v, " ")))
	}
}

func TestClone(t *testing.T) {
	v := syntheticVocab(t)
	m, _ := JSON().NewMatcher(v)
	acceptAll(t, m, v, "[", `{"a`, `":[`)
	c := m.Clone()
	acceptAll(t, m, v, "1", "]}", "]")
	if !m.Accepting() {
		t.Fatal("original not complete")
	}
	if c.Accepting() {
		t.Fatal("clone moved with the original")
	}
	acceptAll(t, c, v, `"x"`, "]}", ",", "null", "]")
	if !c.Accepting() {
		t.Fatal("clone not complete")
	}
}

// TestLongOutputRebuildsCaches: a long counted string makes a new state
// per character; the caches are rebuilt within their bounds and the
// output stays exact.
func TestLongOutputRebuildsCaches(t *testing.T) {
	v := syntheticVocab(t)
	g, err := CompileSchema([]byte(`{"type":"string","minLength":6000,"maxLength":6000}`))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := g.NewMatcher(v)
	mask := make([]uint64, v.MaskWords())
	a := idOf(t, v, "ab")
	acceptAll(t, m, v, `"`)
	for i := 0; i < 3000; i++ {
		m.Mask(mask, NoBudget)
		if !Allowed(mask, a) {
			t.Fatalf("character pair %d not allowed", i)
		}
		if err := m.Accept(a); err != nil {
			t.Fatal(err)
		}
		if rows := len(m.trans) >> 8; rows > maxConfigs+v.depth*8 {
			t.Fatalf("%d transition rows: caches not bounded", rows)
		}
	}
	m.Mask(mask, NoBudget)
	if Allowed(mask, a) || !Allowed(mask, idOf(t, v, `"`)) {
		t.Fatal("after 6000 characters only the closing quote may follow")
	}
	acceptAll(t, m, v, `"`)
	if !m.Accepting() {
		t.Fatal("not complete")
	}
}

func TestApplyMaskWithSampler(t *testing.T) {
	v := syntheticVocab(t)
	g, err := CompileSchema([]byte(`{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]}`))
	if err != nil {
		t.Fatal(err)
	}
	val := validator(t, `{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]}`)
	rng := rand.New(rand.NewPCG(9, 9))
	for _, p := range []sample.Params{sample.Greedy(), {Temperature: 1, Seed: 1, RepeatPenalty: 1}, {Temperature: 0.8, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.1, Seed: 2}} {
		s, err := sample.New(p)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := g.NewMatcher(v)
		mask := make([]uint64, v.MaskWords())
		logits := make([]float32, v.Size())
		var out []byte
		var history []int32
		for step := 0; step < 200 && !m.Done(); step++ {
			if m.Mask(mask, 200-step) == 0 {
				break
			}
			// Weights that favour breaking the document.
			for i := range logits {
				logits[i] = float32(rng.NormFloat64())
			}
			logits[idOf(t, v, "[")] = 50
			ApplyMask(logits, mask)
			for i, l := range logits {
				if Allowed(mask, int32(i)) == math.IsInf(float64(l), -1) {
					t.Fatalf("token %d: allowed %v, logit %v", i, Allowed(mask, int32(i)), l)
				}
			}
			id, err := s.Sample(logits, history)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Accept(id); err != nil {
				t.Fatalf("sampled a masked token: %v", err)
			}
			history = append(history, id)
			if v.IsEOG(id) {
				break
			}
			out = append(out, v.pieces[id]...)
		}
		if !m.Accepting() && !m.Done() {
			t.Fatalf("incomplete: %q", out)
		}
		checkDoc(t, val, "x", out)
	}
}

func TestVocabFromTokenizer(t *testing.T) {
	v := realVocab(t, "qwen3")
	if v.Size() != 151936 {
		t.Fatalf("size %d", v.Size())
	}
	if len(v.eog) == 0 {
		t.Fatal("no end-of-generation tokens")
	}
	m, _ := JSON().NewMatcher(v)
	mask := make([]uint64, v.MaskWords())
	n := m.Mask(mask, NoBudget)
	for id := 0; id < v.Size(); id++ {
		p := v.pieces[id]
		want := len(p) > 0 && firstIsJSONStart(p)
		if Allowed(mask, int32(id)) && !want {
			t.Fatalf("token %d %q allowed at the start of a document", id, p)
		}
	}
	if n < 100 {
		t.Fatalf("only %d tokens may start a JSON document", n)
	}
}

// firstIsJSONStart: the document may start with whitespace or a value.
func firstIsJSONStart(p []byte) bool {
	s := strings.TrimLeft(string(p), " \n\t")
	if s == "" {
		return true
	}
	return strings.ContainsRune("{[\"-0123456789tfn", rune(s[0])) || json.Valid([]byte(s))
}

// TestConcurrentMatchers: a Grammar and a Vocab are shared by matchers
// on several goroutines (run under -race).
func TestConcurrentMatchers(t *testing.T) {
	v := syntheticVocab(t)
	schema := schemas[3]
	g, err := CompileSchema([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	val := validator(t, schema)
	errs := make(chan string, 4)
	for w := 0; w < 4; w++ {
		go func(seed uint64) {
			rng := rand.New(rand.NewPCG(seed, seed))
			m, _ := g.NewMatcher(v)
			mask := make([]uint64, v.MaskWords())
			var out []byte
			for left := 80; left > 0 && !m.Done(); left-- {
				n := m.Mask(mask, left)
				id := pick(mask, n, rng)
				if err := m.Accept(id); err != nil {
					errs <- err.Error()
					return
				}
				if v.IsEOG(id) {
					break
				}
				out = append(out, v.pieces[id]...)
			}
			errs <- string(out)
		}(uint64(w))
	}
	for w := 0; w < 4; w++ {
		out := <-errs
		checkDoc(t, val, schema, []byte(out))
	}
}

// TestFastPathsMatchWalk: the masks of the plain-text shortcuts (string
// bodies, counted strings) equal those of a walk over the whole trie,
// with and without a budget, along random outputs on a real vocabulary.
func TestFastPathsMatchWalk(t *testing.T) {
	v := realVocab(t, "qwen3")
	rng := rand.New(rand.NewPCG(13, 14))
	for _, schema := range []string{
		`{"type":"object","properties":{"a":{"type":"string","minLength":3,"maxLength":40},"b":{"type":"string"},"c":{"type":"array","items":{"type":"string","maxLength":5}}},"required":["a","b","c"]}`,
		`{"type":"string","pattern":"^[a-z ]*$"}`,
		`{"type":"object","additionalProperties":{"type":"string","minLength":2}}`,
	} {
		g, err := CompileSchema([]byte(schema))
		if err != nil {
			t.Fatal(err)
		}
		m, _ := g.NewMatcher(v)
		fast := make([]uint64, v.MaskWords())
		slow := make([]uint64, v.MaskWords())
		budget := g.MinBytes() + 60
		for step := 0; step < budget && !m.Done(); step++ {
			left := NoBudget
			if step%2 == 1 {
				left = budget - step
			}
			ref := m.Clone()
			ref.slow = true
			n := m.Mask(fast, left)
			if ns := ref.Mask(slow, left); ns != n || !slices.Equal(fast, slow) {
				t.Fatalf("%s step %d: fast mask (%d tokens) differs from the walk (%d)", schema, step, n, ns)
			}
			id := pick(fast, n, rng)
			if err := m.Accept(id); err != nil {
				t.Fatal(err)
			}
			if v.IsEOG(id) {
				break
			}
		}
	}
}
