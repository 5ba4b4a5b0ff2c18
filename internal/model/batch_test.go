package model_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/model/synth"
	"github.com/raym33/ainative/internal/sample"
	"github.com/raym33/ainative/internal/tensor"
	"github.com/raym33/ainative/internal/testdata"
	"github.com/raym33/ainative/internal/testdata/testmodel"
)

// fixtureModels loads every golden fixture model the engine supports
// (the fixtures also hold models of features not built yet: those must
// be refused clearly, see testdata.Pending) and calls fn on each.
func fixtureModels(t *testing.T, o model.Options, fn func(t *testing.T, name string, m *model.Model)) {
	_, ms := loadManifests(t)
	for _, mf := range ms {
		name := strings.TrimSuffix(mf.ModelFile, ".gguf")
		t.Run(name, func(t *testing.T) {
			testdata.UnderRace(t, name, "llama-Q4_K_M", "gemma2-F16", "qwen3moe-Q4_K_M")
			f, err := gguf.Open(testmodel.Path(t, mf.ModelFile))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := model.Load(f, o)
			if testdata.Pending(t, mf.ModelFile, err) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			fn(t, name, m)
		})
	}
}

// driver runs a schedule of batches over a cache, keeping each
// sequence's tokens, and records every output with the tokens it follows,
// to be checked against the same tokens evaluated alone.
type driver struct {
	t      *testing.T
	m      *model.Model
	c      *model.Cache
	hist   map[model.SeqID][]int32
	checks []check
	b      model.Batch
}

type check struct {
	seq    model.SeqID
	prefix []int32
	got    []float32
}

type part struct {
	seq    model.SeqID
	tokens []int32
	all    bool // outputs for every token; else for the last one
}

func newDriver(t *testing.T, m *model.Model, o model.CacheOptions) *driver {
	c, err := m.NewCache(o)
	if err != nil {
		t.Fatal(err)
	}
	return &driver{t: t, m: m, c: c, hist: map[model.SeqID][]int32{}}
}

// step decodes the parts in one batch, their tokens interleaved.
func (d *driver) step(parts ...part) {
	d.t.Helper()
	d.b.Reset()
	type ref struct {
		seq    model.SeqID
		prefix []int32
	}
	var refs []ref
	next := make([]int, len(parts))
	for more := true; more; {
		more = false
		for i, p := range parts {
			if next[i] >= len(p.tokens) {
				continue
			}
			more = true
			k := next[i]
			next[i]++
			h := append(d.hist[p.seq], p.tokens[k])
			d.hist[p.seq] = h
			want := p.all || k == len(p.tokens)-1
			d.b.Add(p.tokens[k], len(h)-1, p.seq, want)
			if want {
				refs = append(refs, ref{p.seq, append([]int32(nil), h...)})
			}
		}
	}
	out, err := d.m.Decode(context.Background(), d.c, &d.b, nil)
	if err != nil {
		d.t.Fatal(err)
	}
	V := d.m.Config().Vocab
	if len(out) != len(refs)*V {
		d.t.Fatalf("Decode returned %d values, want %d rows of %d", len(out), len(refs), V)
	}
	for i, r := range refs {
		d.checks = append(d.checks, check{r.seq, r.prefix, out[i*V : (i+1)*V]})
	}
	for s, h := range d.hist {
		if got := d.c.SeqLen(s); got != len(h) {
			d.t.Fatalf("sequence %d holds %d positions, want %d", s, got, len(h))
		}
	}
}

func (d *driver) remove(s model.SeqID, from int) {
	d.t.Helper()
	if err := d.c.Remove(s, from); err != nil {
		d.t.Fatal(err)
	}
	d.hist[s] = d.hist[s][:from]
}

func (d *driver) fork(src, dst model.SeqID, n int) {
	d.t.Helper()
	if err := d.c.Fork(src, dst, n); err != nil {
		d.t.Fatal(err)
	}
	d.hist[dst] = append([]int32(nil), d.hist[src][:n]...)
}

// verify evaluates every recorded output's tokens alone and compares.
func (d *driver) verify(tol float64) {
	d.t.Helper()
	var worst float64
	for i, ck := range d.checks {
		want, err := d.m.Forward(context.Background(), d.m.NewSequence(), ck.prefix, model.OutputLast, nil)
		if err != nil {
			d.t.Fatal(err)
		}
		diff := maxAbsDiff(ck.got, want)
		worst = max(worst, diff)
		if diff > tol {
			d.t.Errorf("output %d (sequence %d after %d tokens): batched vs alone max diff %g > %g", i, ck.seq, len(ck.prefix), diff, tol)
		}
	}
	d.t.Logf("%d outputs, max diff batched vs alone %.2e", len(d.checks), worst)
}

// schedule is a stream of batches in which sequences join, leave, are
// truncated and forked while others decode.
func schedule(d *driver, vocab int) {
	tok := func(seed, n int) []int32 {
		v := make([]int32, n)
		for i := range v {
			v[i] = int32((seed*131 + i*71 + 7) % vocab)
		}
		return v
	}
	d.step(part{0, tok(1, 6), true}, part{1, tok(2, 3), false})
	d.step(part{0, tok(3, 1), false}, part{1, tok(4, 1), false}, part{2, tok(5, 5), true}) // 2 joins
	d.fork(0, 3, 4)                                                                        // 3 shares 0's first 4 positions
	d.step(part{3, tok(6, 2), true}, part{0, tok(7, 1), false}, part{2, tok(8, 1), false})
	d.remove(1, 0) // 1 leaves
	d.remove(2, 3) // 2 is truncated
	d.step(part{2, tok(9, 2), true}, part{0, tok(10, 1), false}, part{3, tok(11, 1), false}, part{1, tok(12, 4), false})
	d.fork(3, 4, d.c.SeqLen(3)) // a fork of a fork, its whole length
	d.step(part{4, tok(13, 1), false}, part{3, tok(14, 1), false}, part{0, tok(15, 40), true})
	d.step(part{4, tok(16, 1), false}, part{3, tok(17, 1), false}, part{0, tok(18, 1), false}, part{2, tok(19, 1), false})
}

// TestDecodeBatched checks that a sequence's logits do not depend on what
// else is in its batches, on every fixture model.
func TestDecodeBatched(t *testing.T) {
	fixtureModels(t, model.Options{Threads: 2, ContextLength: 128, KVType: tensor.F32}, func(t *testing.T, name string, m *model.Model) {
		d := newDriver(t, m, model.CacheOptions{MaxSeqs: 5, Cells: 5 * 128})
		schedule(d, m.Config().Vocab)
		// A token's row goes through kernels of other token counts in
		// another batch: float32 summation orders differ (~1e-7), and a
		// difference of an ulp can move an activation across a rounding
		// boundary of its F16 or Q8 conversion, which for quantized
		// weights changes the logits by up to ~1e-2 (as between
		// llama.cpp's prompt and decode kernels). The golden
		// tolerances bound it; a row mixed up with another sequence's
		// would be off by far more.
		d.verify(tolerance(name[strings.LastIndex(name, "-")+1:]))
	})
}

// TestDecodeBatchedSynth runs the schedule on every synthesized
// architecture in F16 with an F16 cache, which the fixtures do not cover.
func TestDecodeBatchedSynth(t *testing.T) {
	for _, arch := range synth.Archs {
		t.Run(arch, func(t *testing.T) {
			testdata.UnderRace(t, arch, "qwen3moe")
			m := load(t, tiny(t, arch, "Q4_K_M"), model.Options{ContextLength: 96, Threads: 2, KVType: tensor.F16, BatchSize: 64})
			d := newDriver(t, m, model.CacheOptions{MaxSeqs: 5, Cells: 400})
			schedule(d, m.Config().Vocab)
			d.verify(tolerance("Q4_K_M"))
		})
	}
}

// TestGreedyParallel decodes 8 sequences greedily in one batch a step
// and compares their tokens with each sequence generated alone.
func TestGreedyParallel(t *testing.T) {
	fixtureModels(t, model.Options{Threads: 2, ContextLength: 64, KVType: tensor.F16}, func(t *testing.T, name string, m *model.Model) {
		ctx := context.Background()
		const nSeq, steps = 8, 8
		V := m.Config().Vocab
		prompts := make([][]int32, nSeq)
		for s := range prompts {
			for i := range 2 + s {
				prompts[s] = append(prompts[s], int32((s*977+i*31+1)%V))
			}
		}
		want := make([][]int32, nSeq)
		// A near-tie of the solo run may go either way in a batch, whose
		// activations take other kernels (see TestDecodeBatched): tokens
		// are compared up to the first step whose margin is within the
		// variant's tolerance.
		tol := tolerance(name[strings.LastIndex(name, "-")+1:])
		firm := make([]int, nSeq)
		for s, p := range prompts {
			firm[s] = steps
			_, err := m.Generate(ctx, m.NewSequence(), p, steps, func(l []float32) int32 {
				if _, margin := argmax(l); float64(margin) < tol && firm[s] == steps {
					firm[s] = len(want[s])
				}
				return sample.Argmax(l)
			},
				func(tok int32) bool { want[s] = append(want[s], tok); return false })
			if err != nil {
				t.Fatal(err)
			}
		}
		c, err := m.NewCache(model.CacheOptions{MaxSeqs: nSeq, Cells: nSeq * 32})
		if err != nil {
			t.Fatal(err)
		}
		var b model.Batch
		for s, p := range prompts {
			for i, tok := range p {
				b.Add(tok, i, model.SeqID(s), i == len(p)-1)
			}
		}
		got := make([][]int32, nSeq)
		var out []float32
		for range steps {
			if out, err = m.Decode(ctx, c, &b, out[:0]); err != nil {
				t.Fatal(err)
			}
			b.Reset()
			for s := range nSeq {
				tok := sample.Argmax(out[s*V : (s+1)*V])
				got[s] = append(got[s], tok)
				b.Add(tok, c.SeqLen(model.SeqID(s)), model.SeqID(s), true)
			}
		}
		for s := range nSeq {
			if n := firm[s]; !equal(got[s][:n], want[s][:n]) {
				t.Errorf("sequence %d: parallel %v, alone %v (near-tie from step %d)", s, got[s], want[s], firm[s])
			}
		}
	})
}

func TestDecodeErrors(t *testing.T) {
	ctx := context.Background()
	m := load(t, tiny(t, "qwen2", "Q8_0"), model.Options{ContextLength: 80, Threads: 2, BatchSize: 40})
	c, err := m.NewCache(model.CacheOptions{MaxSeqs: 3, Cells: 90})
	if err != nil {
		t.Fatal(err)
	}
	if c.Cells() != 96 || c.FreeCells() != 96 || c.MaxSeqs() != 3 {
		t.Fatalf("cache of %d cells, %d free, %d sequences", c.Cells(), c.FreeCells(), c.MaxSeqs())
	}
	dec := func(b *model.Batch) error {
		_, err := m.Decode(ctx, c, b, nil)
		return err
	}
	seqOf := func(s model.SeqID, from, n int) *model.Batch {
		var b model.Batch
		for i := range n {
			b.Add(int32(i+1), from+i, s, i == n-1)
		}
		return &b
	}
	for _, tc := range []struct {
		name string
		b    *model.Batch
		want string
	}{
		{"unknown sequence", seqOf(3, 0, 1), "sequence 3 does not exist (the cache has ids 0 to 2)"},
		{"negative sequence", seqOf(-1, 0, 1), "sequence -1 does not exist"},
		{"position gap", seqOf(0, 1, 1), "position 1 of sequence 0 is out of order, want 0"},
		{"positions backwards", &model.Batch{Tokens: []int32{1, 2}, Pos: []int32{1, 0}, Seq: []model.SeqID{0, 0}}, "position 1 of sequence 0 is out of order, want 0"},
		{"lengths", &model.Batch{Tokens: []int32{1, 2}, Pos: []int32{0}, Seq: []model.SeqID{0, 0}}, "batch of 2 tokens has 1 positions"},
		{"token", &model.Batch{Tokens: []int32{512}, Pos: []int32{0}, Seq: []model.SeqID{0}}, "token 512 at index 0 is out of range"},
		{"too large", seqOf(0, 0, 41), "larger than the batch size 40"},
	} {
		if err := dec(tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	// Out of cells: 40 + 24 positions fill the three 32-cell blocks; a
	// batch needing another block is refused and changes nothing;
	// freeing a sequence makes room again.
	if err := dec(seqOf(0, 0, 40)); err != nil {
		t.Fatal(err)
	}
	if err := dec(seqOf(1, 0, 24)); err != nil {
		t.Fatal(err)
	}
	var b model.Batch
	b.Add(5, 24, 1, true)
	b.Add(5, 0, 2, true)
	if err := dec(&b); !errors.Is(err, model.ErrCacheFull) || !strings.Contains(err.Error(), "needs 32 more cells, 0 of 96 are free") {
		t.Errorf("full cache: %v", err)
	}
	if c.SeqLen(1) != 24 || c.SeqLen(2) != 0 || c.FreeCells() != 0 {
		t.Errorf("a refused batch changed the cache: lengths %d %d, %d free", c.SeqLen(1), c.SeqLen(2), c.FreeCells())
	}
	if err := c.Remove(0, 0); err != nil {
		t.Fatal(err)
	}
	if c.FreeCells() != 64 {
		t.Errorf("after removing sequence 0: %d free cells, want 64", c.FreeCells())
	}
	if err := dec(&b); err != nil {
		t.Errorf("after freeing room: %v", err)
	}
	// Context full: positions stop at the model's context length.
	m2 := load(t, tiny(t, "qwen2", "Q8_0"), model.Options{ContextLength: 8, Threads: 1})
	c2, err := m2.NewCache(model.CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m2.Decode(ctx, c2, seqOf(0, 0, 9), nil); !errors.Is(err, model.ErrContextFull) {
		t.Errorf("9 positions in a context of 8: %v", err)
	}
	// Cache operations on bad ids and positions.
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"remove unknown", c.Remove(7, 0), "sequence 7 does not exist"},
		{"remove negative", c.Remove(1, -1), "from position -1"},
		{"fork unknown", c.Fork(1, 9, 1), "sequence 9 does not exist"},
		{"fork onto itself", c.Fork(1, 1, 1), "onto itself"},
		{"fork too long", c.Fork(1, 0, 30), "Fork of 30 positions of sequence 1, which holds 25"},
		{"fork onto used", c.Fork(1, 2, 1), "Fork onto sequence 2, which holds 1 positions"},
		{"decode another model's cache", func() error { _, err := m2.Decode(ctx, c, seqOf(0, 0, 1), nil); return err }(), "cache of another model"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, tc.err, tc.want)
		}
	}
	if c.SeqLen(99) != 0 {
		t.Error("SeqLen of an unknown id is not 0")
	}
}

// TestPrefix checks LongestPrefix and that a sequence forked from the
// prefix it finds continues exactly as the whole prompt alone.
func TestPrefix(t *testing.T) {
	ctx := context.Background()
	m := load(t, tiny(t, "llama", "Q8_0"), model.Options{ContextLength: 128, Threads: 2})
	c, err := m.NewCache(model.CacheOptions{MaxSeqs: 4})
	if err != nil {
		t.Fatal(err)
	}
	system := make([]int32, 70)
	for i := range system {
		system[i] = int32(i*7%500 + 1)
	}
	var b model.Batch
	for i, tok := range system {
		b.Add(tok, i, 0, false)
	}
	if _, err := m.Decode(ctx, c, &b, nil); err != nil {
		t.Fatal(err)
	}
	free := c.FreeCells()
	if s, n := c.LongestPrefix([]int32{9999}); s != -1 || n != 0 {
		t.Errorf("no common prefix: got sequence %d, %d tokens", s, n)
	}
	turn := append(append([]int32(nil), system[:50]...), 3, 4, 5)
	s, n := c.LongestPrefix(turn)
	if s != 0 || n != 50 {
		t.Fatalf("LongestPrefix = sequence %d, %d tokens; want 0, 50", s, n)
	}
	if err := c.Fork(s, 1, n); err != nil {
		t.Fatal(err)
	}
	if c.FreeCells() != free {
		t.Errorf("Fork took %d cells, want none", free-c.FreeCells())
	}
	b.Reset()
	for i, tok := range turn[n:] {
		b.Add(tok, n+i, 1, true)
	}
	got, err := m.Decode(ctx, c, &b, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Writing past position 50 copied the shared block of positions
	// 32-63 (copy on write) and nothing else.
	if c.FreeCells() != free-32 {
		t.Errorf("continuing the fork took %d cells, want 32", free-c.FreeCells())
	}
	want, err := m.Forward(ctx, m.NewSequence(), turn, model.OutputAll, nil)
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config().Vocab
	if d := maxAbsDiff(got, want[n*V:]); d > 1e-4 {
		t.Errorf("forked continuation vs alone: max diff %g", d)
	}
	// The original is untouched by its fork's writes.
	if s, n := c.LongestPrefix(system); s != 0 || n != len(system) {
		t.Errorf("original's prefix after the fork wrote: sequence %d, %d tokens", s, n)
	}
}

// TestSlidingWindowCache checks that the Gemma fixtures give the same
// logits with the sliding-window layers keeping only their window as
// with every position, well past the window, and that going back past
// the window is refused.
func TestSlidingWindowCache(t *testing.T) {
	ctx := context.Background()
	for _, file := range []string{"gemma2-F16.gguf", "gemma3-F16.gguf"} {
		t.Run(file, func(t *testing.T) {
			f, err := gguf.Open(testmodel.Path(t, file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := model.Load(f, model.Options{Threads: 2, ContextLength: 256, BatchSize: 16})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			window := m.Config().SlidingWindow
			if window <= 0 || window > 32 {
				t.Fatalf("fixture's sliding window %d", window)
			}
			run := func(full bool) ([]float32, *model.Cache) {
				c, err := m.NewCache(model.CacheOptions{MaxSeqs: 2, FullSWA: full})
				if err != nil {
					t.Fatal(err)
				}
				var out []float32
				var b model.Batch
				for pos := 0; pos < 200; {
					b.Reset()
					for i := 0; i < 8 && pos < 200; i++ { // 16 tokens
						tok := int32((pos*37 + 11) % m.Config().Vocab)
						b.Add(tok, pos, 0, true)
						b.Add(tok, pos, 1, pos%3 == 0)
						pos++
					}
					if out, err = m.Decode(ctx, c, &b, out); err != nil {
						t.Fatal(err)
					}
				}
				return out, c
			}
			want, full := run(true)
			got, win := run(false)
			if d := maxAbsDiff(got, want); d != 0 || len(got) != len(want) {
				t.Errorf("windowed vs full sliding-window cache: max diff %g (%d and %d values)", d, len(got), len(want))
			}
			if win.Bytes() >= full.Bytes() {
				t.Errorf("windowed cache takes %d bytes, full %d", win.Bytes(), full.Bytes())
			}
			if err := win.Remove(0, 100); !errors.Is(err, model.ErrWindowReleased) {
				t.Errorf("Remove past the window: %v", err)
			}
			if err := win.Fork(0, 1, 50); err == nil {
				t.Error("Fork onto a used sequence succeeded")
			}
			if err := win.Remove(1, 0); err != nil {
				t.Fatal(err)
			}
			if err := win.Fork(0, 1, 50); !errors.Is(err, model.ErrWindowReleased) {
				t.Errorf("Fork past the window: %v", err)
			}
			if err := win.Remove(0, 195); err != nil {
				t.Errorf("Remove within the window: %v", err)
			}
			if err := full.Remove(0, 100); err != nil {
				t.Errorf("Remove with a full cache: %v", err)
			}
		})
	}
}
