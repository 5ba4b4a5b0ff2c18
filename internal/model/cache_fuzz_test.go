package model

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/raym33/ainative/internal/model/synth"
)

// FuzzCacheOps runs a random sequence of Decode, Remove and Fork on a
// small cache of a gemma2 model (so that the sliding-window store is in
// play) and checks after every operation that the blocks are accounted
// for (each block's reference count is the number of sequences holding
// it; free blocks are exactly those of count 0), and at the end that
// every sequence's next logits equal its tokens evaluated alone.
func FuzzCacheOps(f *testing.F) {
	f.Add([]byte{0, 9, 1, 5, 2, 0, 1, 3, 0, 40, 4, 1, 0, 3, 2, 6})
	f.Add([]byte{0, 200, 0, 200, 3, 0, 2, 60, 1, 0, 1, 1, 2, 1, 3, 90, 0, 7})
	f.Add([]byte{0, 70, 2, 0, 3, 2, 0, 70, 1, 35, 2, 3, 0, 64, 4, 0, 0, 3})
	g := synthParsed(f, synth.Options{Arch: "gemma2", Shape: "micro", Type: "F32", Seed: 2})
	m, err := Load(g, Options{Threads: 2, BatchSize: 48})
	if err != nil {
		f.Fatal(err)
	}
	m.ctxLen = 160 // past the micro shape's 64, before the first pass sizes the scratch
	m.cfg.SlidingWindow = 20
	for il := range m.layers {
		m.layers[il].swa = il%2 == 0
	}
	f.Cleanup(func() { m.Close() })
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, ops []byte) {
		const seqs = 4
		c, err := m.NewCache(CacheOptions{MaxSeqs: seqs, Cells: 640})
		if err != nil {
			t.Fatal(err)
		}
		if c.swa == nil {
			t.Fatal("the cache keeps every position in the sliding-window layers")
		}
		hist := make([][]int32, seqs)
		var b Batch
		for i := 0; i+2 < len(ops) && i < 60; i += 3 {
			op, s, arg := ops[i]%3, SeqID(ops[i+1]%seqs), int(ops[i+2])
			switch op {
			case 0: // decode arg%48+1 tokens of s (and one of the next sequence)
				b.Reset()
				n := arg%48 + 1
				for k := range n {
					b.Add(int32((arg+k*13)%m.cfg.Vocab), len(hist[s])+k, s, false)
				}
				o := (s + 1) % seqs
				if n < 48 {
					b.Add(int32(arg%m.cfg.Vocab), len(hist[o]), o, true)
				}
				_, err := m.Decode(ctx, c, &b, nil)
				switch {
				case err == nil:
					for k := range n {
						hist[s] = append(hist[s], b.Tokens[k])
					}
					if n < 48 {
						hist[o] = append(hist[o], b.Tokens[n])
					}
				case errors.Is(err, ErrCacheFull) || errors.Is(err, ErrContextFull):
				default:
					t.Fatal(err)
				}
			case 1: // truncate s
				from := arg % (len(hist[s]) + 1)
				err := c.Remove(s, from)
				switch {
				case err == nil:
					hist[s] = hist[s][:from]
				case errors.Is(err, ErrWindowReleased):
				default:
					t.Fatal(err)
				}
			case 2: // fork s into the first empty sequence
				dst := SeqID(-1)
				for d := range SeqID(seqs) {
					if len(hist[d]) == 0 && d != s {
						dst = d
						break
					}
				}
				if dst < 0 {
					continue
				}
				n := arg % (len(hist[s]) + 1)
				err := c.Fork(s, dst, n)
				switch {
				case err == nil:
					hist[dst] = append([]int32(nil), hist[s][:n]...)
				case errors.Is(err, ErrWindowReleased):
				default:
					t.Fatal(err)
				}
			}
			checkBlocks(t, c)
		}
		for s := range SeqID(seqs) {
			if got := c.SeqLen(s); got != len(hist[s]) {
				t.Fatalf("sequence %d holds %d positions, want %d", s, got, len(hist[s]))
			}
			if len(hist[s]) == 0 || len(hist[s]) >= m.ctxLen {
				continue
			}
			b.Reset()
			b.Add(3, len(hist[s]), s, true)
			got, err := m.Decode(ctx, c, &b, nil)
			if errors.Is(err, ErrCacheFull) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := m.Forward(ctx, m.NewSequence(), append(append([]int32(nil), hist[s]...), 3), OutputLast, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-4 {
					t.Fatalf("sequence %d after %d tokens: logit %d differs by %g from the sequence alone", s, len(hist[s]), i, d)
				}
			}
		}
	})
}

// checkBlocks checks the cache's block accounting.
func checkBlocks(t *testing.T, c *Cache) {
	t.Helper()
	for _, st := range []*kvStore{c.full, c.swa} {
		if st == nil {
			continue
		}
		refs := make([]int32, st.blocks)
		for s := range c.seqs {
			tbl := c.seqs[s].full
			if st == c.swa {
				tbl = c.seqs[s].swa
			}
			if want := (c.seqs[s].n + blockCells - 1) / blockCells; len(tbl) != want {
				t.Fatalf("sequence %d: %d positions in %d blocks", s, c.seqs[s].n, len(tbl))
			}
			for _, b := range tbl {
				if b >= 0 {
					refs[b]++
				}
			}
		}
		free := make([]bool, st.blocks)
		for _, b := range st.free {
			if free[b] {
				t.Fatalf("block %d is free twice", b)
			}
			free[b] = true
		}
		for b := range refs {
			if refs[b] != st.ref[b] || (refs[b] == 0) != free[b] {
				t.Fatalf("block %d: held by %d sequences, count %d, free %v", b, refs[b], st.ref[b], free[b])
			}
		}
	}
}
