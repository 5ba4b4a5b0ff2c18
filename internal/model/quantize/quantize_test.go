package quantize_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/model/quantize"
	"github.com/raym33/ainative/internal/model/synth"
	"github.com/raym33/ainative/internal/tensor"
	"github.com/raym33/ainative/internal/testdata"
)

// blockMatch compares every tensor of got with the one of the same name
// in want (same type and shape) block by block, logs the tensors that
// differ, and returns the identical and total blocks of each type.
func blockMatch(t *testing.T, got, want *gguf.File) map[tensor.Type][2]int {
	t.Helper()
	if len(got.Tensors) != len(want.Tensors) {
		t.Fatalf("%d tensors, llama.cpp's file has %d", len(got.Tensors), len(want.Tensors))
	}
	counts := map[tensor.Type][2]int{}
	for i := range want.Tensors {
		w := &want.Tensors[i]
		g, ok := got.Tensor(w.Name)
		if !ok || g.Type != w.Type || !slices.Equal(g.Dims, w.Dims) {
			t.Fatalf("tensor %q: %v, llama.cpp %s %v", w.Name, g, w.Type, w.Dims)
		}
		gd, wd := got.TensorData(g), want.TensorData(w)
		if len(gd) != len(wd) {
			t.Fatalf("%s: %d bytes, llama.cpp %d", w.Name, len(gd), len(wd))
		}
		bs := int(w.Type.BlockBytes())
		c, diff := counts[w.Type], 0
		for o := 0; o < len(wd); o += bs {
			if !bytes.Equal(gd[o:o+bs], wd[o:o+bs]) {
				diff++
			}
		}
		c[0] += len(wd)/bs - diff
		c[1] += len(wd) / bs
		counts[w.Type] = c
		if diff > 0 {
			t.Logf("%s (%s): %d of %d blocks differ", w.Name, w.Type, diff, len(wd)/bs)
		}
	}
	return counts
}

// requireIdentical fails unless every block of every type is identical
// to llama.cpp's, and logs the share of each type.
func requireIdentical(t *testing.T, counts map[tensor.Type][2]int) {
	t.Helper()
	for _, typ := range slices.Sorted(maps.Keys(counts)) {
		c := counts[typ]
		t.Logf("%s: %d of %d blocks identical (%.4f%%)", typ, c[0], c[1], 100*float64(c[0])/float64(c[1]))
		if c[0] != c[1] {
			t.Errorf("%s: %d of %d blocks differ from llama.cpp's", typ, c[1]-c[0], c[1])
		}
	}
}

// TestRequantizeFixtures quantizes the F32 fixtures to each type a
// fixture has and compares the tensors with llama.cpp's quantization of
// the same file: every block of every tensor identical, the K-quants
// (Q2_K to Q6_K, whose quantizers search scales in float32 arithmetic
// fused as llama.cpp's build fuses it) and IQ3_S (a grid search, fused
// likewise) included. The issue asks 99.9% of the K-quant blocks; they
// all match.
func TestRequantizeFixtures(t *testing.T) {
	for _, src := range []struct {
		model string
		types []string
	}{
		{"llama", []string{"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K_M", "Q5_K_M", "Q6_K",
			"Q2_K", "Q3_K_M", "IQ4_NL", "IQ4_XS", "F16", "BF16"}},
		{"qwen2", []string{"Q8_0", "Q4_K_M", "Q3_K_L", "IQ3_S"}},
	} {
		in, err := gguf.Open(testdata.Path(t, "models", src.model+"-F32.gguf"))
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		for _, typ := range src.types {
			t.Run(src.model+"-"+typ, func(t *testing.T) {
				testdata.UnderRace(t, src.model+"-"+typ, "llama-Q4_K_M", "qwen2-Q8_0")
				want, err := gguf.Open(testdata.Path(t, "models", src.model+"-"+typ+".gguf"))
				if err != nil {
					t.Fatal(err)
				}
				defer want.Close()
				out := filepath.Join(t.TempDir(), "out.gguf")
				var last, total int64
				st, err := quantize.File(context.Background(), in, out, quantize.Options{Type: typ, Threads: 2,
					Progress: func(d, n int64) { last, total = d, n }})
				if err != nil {
					t.Fatal(err)
				}
				if last != total || total != st.OutBytes {
					t.Errorf("progress ended at %d of %d, wrote %d bytes of tensors", last, total, st.OutBytes)
				}
				got, err := gguf.Open(out)
				if err != nil {
					t.Fatal(err)
				}
				defer got.Close()
				requireIdentical(t, blockMatch(t, got, want))
				if ft, err := got.Uint("general.file_type"); err != nil {
					t.Error(err)
				} else if wft, _ := want.Uint("general.file_type"); ft != wft {
					t.Errorf("general.file_type %d, llama.cpp %d", ft, wft)
				}
			})
		}
	}
}

// TestRequantizeMoE quantizes the mixture-of-experts fixtures' F16 files
// (their F32 files, from which llama.cpp made the Q4_K_M ones, are exact
// upcasts) and compares with llama.cpp's Q4_K_M: the expert rules
// (Q8_0 attn_k/attn_v, Q5_K attn_output for 8 experts), F32 routers, and
// every block identical.
func TestRequantizeMoE(t *testing.T) {
	for _, name := range []string{"mixtral", "qwen3moe"} {
		t.Run(name, func(t *testing.T) {
			testdata.UnderRace(t, name) // TestRequantizeFixtures runs quantize.File under -race
			in, err := gguf.Open(testdata.Path(t, "models", name+"-F16.gguf"))
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			want, err := gguf.Open(testdata.Path(t, "models", name+"-Q4_K_M.gguf"))
			if err != nil {
				t.Fatal(err)
			}
			defer want.Close()
			out := filepath.Join(t.TempDir(), "out.gguf")
			if _, err := quantize.File(context.Background(), in, out, quantize.Options{Type: "Q4_K_M", Threads: 2}); err != nil {
				t.Fatal(err)
			}
			got, err := gguf.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			requireIdentical(t, blockMatch(t, got, want))
		})
	}
}

// synthModel synthesizes the model o describes and parses it.
func synthModel(t *testing.T, o synth.Options) *gguf.File {
	t.Helper()
	sm, err := synth.New(o)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := sm.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestQuantizeErrors checks the refusals: an unknown type, a quantized
// input, and a cancelled run, which leaves no file.
func TestQuantizeErrors(t *testing.T) {
	q8 := synthModel(t, synth.Options{Shape: "micro", Type: "Q8_0", Seed: 1})
	dir := t.TempDir()
	if _, err := quantize.File(context.Background(), q8, filepath.Join(dir, "a.gguf"), quantize.Options{Type: "Q4_0"}); err == nil ||
		!strings.Contains(err.Error(), "only F32, F16 and BF16 weights can be quantized") {
		t.Errorf("requantizing Q8_0: error %v", err)
	}
	if _, err := quantize.File(context.Background(), q8, filepath.Join(dir, "b.gguf"), quantize.Options{Type: "IQ2_XXS"}); err == nil ||
		!strings.Contains(err.Error(), "unknown type") {
		t.Errorf("IQ2_XXS: error %v", err)
	}

	f32 := synthModel(t, synth.Options{Shape: "tiny", Type: "F32", Seed: 1})
	ctx, cancel := context.WithCancel(context.Background())
	path := filepath.Join(dir, "c.gguf")
	_, err := quantize.File(ctx, f32, path, quantize.Options{Type: "Q4_K_M", Threads: 1,
		Progress: func(done, total int64) {
			if done > total/4 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: error %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("cancelled run left %v", ents)
	}
}

// TestRequantizedLogits loads models quantized here from the F32 fixture
// and compares their logits (24 tokens in one batch) with llama.cpp's
// golden ones for its own quantization of the same file, within the
// fixtures' tolerance for quantized weights.
func TestRequantizedLogits(t *testing.T) {
	var tokens []int32
	b, err := os.ReadFile(testdata.Path(t, "golden", "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &tokens); err != nil {
		t.Fatal(err)
	}
	in, err := gguf.Open(testdata.Path(t, "models", "llama-F32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	for _, typ := range []string{"Q8_0", "Q4_0", "Q4_K_M", "Q6_K", "Q2_K", "Q3_K_M", "IQ4_XS"} {
		t.Run(typ, func(t *testing.T) {
			testdata.UnderRace(t, typ, "Q4_K_M")
			raw, err := os.ReadFile(testdata.Path(t, "golden", "llama-"+typ+".logits.f32"))
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float32, len(raw)/4)
			for i := range want {
				want[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
			out := filepath.Join(t.TempDir(), "out.gguf")
			if _, err := quantize.File(context.Background(), in, out, quantize.Options{Type: typ, Threads: 2}); err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := model.Load(f, model.Options{Threads: 2, ContextLength: 64})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			got, err := m.Forward(context.Background(), m.NewSequence(), tokens, model.OutputAll, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d logits, golden %d", len(got), len(want))
			}
			var d float64
			for i := range got {
				d = max(d, math.Abs(float64(got[i]-want[i])))
			}
			t.Logf("%s: max |logit diff| %.2e against llama.cpp's %s model", typ, d, typ)
			if d > 6e-2 {
				t.Errorf("max |logit diff| %.3e > 6e-2", d)
			}
		})
	}
}
