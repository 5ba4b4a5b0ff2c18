package model

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/testdata"
)

// routing is a fixture's <model>.routing.json: the experts llama.cpp
// chose for each layer and batch token, and the router probabilities.
type routing struct {
	TokenIDs []int32 `json:"token_ids"`
	Layers   []struct {
		Layer    int         `json:"layer"`
		Selected [][]int32   `json:"selected"`
		Probs    [][]float32 `json:"probs"`
	} `json:"layers"`
}

// TestRoutingMatchesLlamaCpp runs each MoE fixture's 24 tokens in one
// batch and compares, per layer and token, the chosen experts (in order)
// and the router's probabilities with what llama.cpp recorded.
func TestRoutingMatchesLlamaCpp(t *testing.T) {
	for _, name := range []string{"mixtral-F16", "mixtral-Q4_K_M", "qwen3moe-F16", "qwen3moe-Q4_K_M"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(testdata.Path(t, "golden", name+".routing.json"))
			if err != nil {
				t.Fatal(err)
			}
			var want routing
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Open(testdata.Path(t, "models", name+".gguf"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := Load(f, Options{Threads: 2, ContextLength: 64})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			c := m.Config()
			n, k, X := len(want.TokenIDs), c.ExpertsUsed, c.Experts
			got := make([][]int32, c.Layers)
			probs := make([][]float32, c.Layers)
			m.routeHook = func(il int, sel []int32, p []float32) {
				got[il] = slices.Clone(sel)
				probs[il] = slices.Clone(p)
			}
			if _, err := m.Forward(context.Background(), m.NewSequence(), want.TokenIDs, OutputAll, nil); err != nil {
				t.Fatal(err)
			}
			if len(want.Layers) != c.Layers {
				t.Fatalf("routing file has %d layers, model %d", len(want.Layers), c.Layers)
			}
			checked := 0
			for _, wl := range want.Layers {
				il := wl.Layer
				// The last layer routes only the rows whose outputs
				// are wanted: all of them here.
				if len(got[il]) != n*k || len(wl.Selected) != n {
					t.Fatalf("layer %d: routed %d choices, want %d tokens x %d", il, len(got[il]), n, k)
				}
				for tok := range n {
					if g, w := got[il][tok*k:(tok+1)*k], wl.Selected[tok]; !slices.Equal(g, w) {
						t.Errorf("layer %d token %d: experts %v, llama.cpp %v", il, tok, g, w)
					}
					for e := range X {
						if d := math.Abs(float64(probs[il][tok*X+e] - wl.Probs[tok][e])); d > 2e-3 {
							t.Errorf("layer %d token %d expert %d: probability %g, llama.cpp %g", il, tok, e, probs[il][tok*X+e], wl.Probs[tok][e])
						}
					}
					checked++
				}
			}
			if checked != n*c.Layers {
				t.Fatalf("checked %d routings", checked)
			}
		})
	}
}

// TestMoEUbatch checks the default ubatch of a mixture of experts: the
// Qwen3-30B-A3B shape gets a 64 MiB scratch budget, which holds several
// hundred tokens, where 16 MiB would hold fewer than 100 (and each of
// its 128 experts would see a handful of tokens per pass).
func TestMoEUbatch(t *testing.T) {
	dense := Config{Embed: 2048, Heads: 32, KVHeads: 4, HeadDim: 128, FFN: 6144, Rope: RopeConfig{Dims: 128}}
	moe := dense
	moe.Experts, moe.ExpertsUsed, moe.ExpertFFN = 128, 8, 768
	m := &Model{cfg: moe}
	per := m.scratchPerToken()
	if got, want := m.defaultUbatch(), (64<<20)/per; got != want || got < 256 {
		t.Errorf("ubatch %d, want %d (%d bytes a token) and at least 256", got, want, per)
	}
	d := &Model{cfg: dense}
	if got, want := d.defaultUbatch(), min(512, (16<<20)/d.scratchPerToken()); got != want {
		t.Errorf("dense ubatch %d, want %d", got, want)
	}
}
