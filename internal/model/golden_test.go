package model_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/tensor"
	"github.com/raym33/ainative/internal/testdata"
	"github.com/raym33/ainative/internal/testdata/testmodel"
)

// manifest is one entry of golden/manifest.json (see the fixtures' README).
type manifest struct {
	ModelFile          string    `json:"model_file"`
	Arch               string    `json:"arch"`
	Variant            string    `json:"variant"`
	TokenIDs           []int32   `json:"token_ids"`
	NVocab             int       `json:"n_vocab"`
	GreedyContinuation []int32   `json:"greedy_continuation"`
	GreedyMargins      []float64 `json:"greedy_margins"`
	LogitsFile         string    `json:"logits_file"`
	GreedyLogitsFile   string    `json:"greedy_logits_file"`
	Settings           struct {
		NCtx int `json:"n_ctx"`
	} `json:"settings"`
}

// tolerance is the bound on |logit difference| for a variant:
// float32 weights, 16-bit weights, quantized weights.
func tolerance(variant string) float64 {
	switch {
	case variant == "F32":
		return 1e-3
	case variant == "F16" || variant == "BF16":
		return 1e-2
	}
	return 6e-2
}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func loadManifests(t *testing.T) (dir string, ms []manifest) {
	t.Helper()
	dir = testdata.Path(t, "golden")
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ms); err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("empty golden manifest")
	}
	return dir, ms
}

// argmax returns the index of the largest value, the lowest on ties (as
// the fixtures' greedy continuations are defined), and the margin to the
// runner-up.
func argmax(row []float32) (best int, margin float32) {
	second := float32(math.Inf(-1))
	for i, v := range row {
		if v > row[best] {
			second = row[best]
			best = i
		} else if i != best && v > second {
			second = v
		}
	}
	return best, row[best] - second
}

func maxDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// TestGolden checks every fixture model against llama.cpp's logits: all
// 24 positions of one batch, then 16 greedy steps of one token each
// through the KV cache, by the same Generate loop as `ainative generate`.
func TestGolden(t *testing.T) {
	dir, ms := loadManifests(t)
	for _, mf := range ms {
		name := strings.TrimSuffix(mf.ModelFile, ".gguf")
		t.Run(name, func(t *testing.T) {
			tol := tolerance(mf.Variant)
			f, err := gguf.Open(testmodel.Path(t, mf.ModelFile))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := model.Load(f, model.Options{Threads: 2, ContextLength: mf.Settings.NCtx, KVType: tensor.F32})
			if testdata.Pending(t, mf.ModelFile, err) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			V := mf.NVocab
			if got := m.Config().Vocab; got != V {
				t.Fatalf("vocabulary %d, manifest says %d", got, V)
			}

			// One batch, all positions.
			want := readF32(t, filepath.Join(dir, mf.LogitsFile))
			seq := m.NewSequence()
			got, err := m.Forward(context.Background(), seq, mf.TokenIDs, model.OutputAll, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d logits, want %d", len(got), len(want))
			}
			batchDiff := maxDiff(got, want)
			for i := range mf.TokenIDs {
				g, w := got[i*V:(i+1)*V], want[i*V:(i+1)*V]
				wa, margin := argmax(w)
				if ga, _ := argmax(g); ga != wa && float64(margin) > tol {
					t.Errorf("position %d: argmax %d, llama.cpp %d (margin %.4f)", i, ga, wa, margin)
				}
			}

			// Greedy decode through the KV cache, one token a step. The
			// fixture's own tokens are fed back (so that every step's
			// logits stay comparable) and our argmax is checked against
			// them up to the first fragile step.
			wantG := readF32(t, filepath.Join(dir, mf.GreedyLogitsFile))
			seq = m.NewSequence()
			var greedyDiff float64
			step, same := 0, 0
			fragile := false
			_, err = m.Generate(context.Background(), seq, mf.TokenIDs, len(mf.GreedyContinuation),
				func(logits []float32) int32 {
					w := wantG[step*V : (step+1)*V]
					greedyDiff = max(greedyDiff, maxDiff(logits, w))
					fragile = fragile || mf.GreedyMargins[step] < tol
					ga, _ := argmax(logits)
					if int32(ga) == mf.GreedyContinuation[step] {
						same++
					} else if !fragile {
						t.Errorf("greedy step %d: argmax %d, llama.cpp %d (margin %.4f)", step, ga, mf.GreedyContinuation[step], mf.GreedyMargins[step])
					}
					tok := mf.GreedyContinuation[step]
					step++
					return tok
				},
				func(int32) bool { return false })
			if err != nil {
				t.Fatal(err)
			}
			if step != len(mf.GreedyContinuation) {
				t.Fatalf("generated %d steps, want %d", step, len(mf.GreedyContinuation))
			}
			t.Logf("%s: max |logit diff| batch %.2e, greedy %.2e (tolerance %.0e); greedy argmax = llama.cpp's at %d/%d steps",
				name, batchDiff, greedyDiff, tol, same, len(mf.GreedyContinuation))
			if batchDiff > tol || greedyDiff > tol {
				t.Errorf("max |logit diff| batch %.3e, greedy %.3e > %.0e", batchDiff, greedyDiff, tol)
			}
		})
	}
}
