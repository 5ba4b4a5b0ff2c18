package synth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/model/synth"
	"github.com/raym33/ainative/internal/tensor"
	"github.com/raym33/ainative/internal/testdata"
	"github.com/raym33/ainative/internal/tokenizer"
)

func build(t *testing.T, o synth.Options) []byte {
	t.Helper()
	m, err := synth.New(o)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestTinyEveryArch loads a tiny model of each architecture and
// generates from it: the logits are finite at every step, the tokens are
// in the vocabulary, and the same file gives the same tokens with another
// thread count and batch size.
func TestTinyEveryArch(t *testing.T) {
	for _, arch := range synth.Archs {
		t.Run(arch, func(t *testing.T) {
			data := build(t, synth.Options{Arch: arch, Shape: "tiny", Type: "Q8_0", Seed: 1})
			run := func(threads, batch int) []int32 {
				f, err := gguf.Parse(data)
				if err != nil {
					t.Fatal(err)
				}
				m, err := model.Load(f, model.Options{Threads: threads, BatchSize: batch, ContextLength: 64, KVType: tensor.F16})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				if m.Config().Arch != arch {
					t.Fatalf("architecture %q, want %q", m.Config().Arch, arch)
				}
				vocab := m.Config().Vocab
				var got []int32
				reason, err := m.Generate(context.Background(), m.NewSequence(), []int32{1, 2, 3}, 5,
					func(l []float32) int32 {
						for i, x := range l {
							if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
								t.Fatalf("logit %d is %v", i, x)
							}
						}
						if len(l) != vocab {
							t.Fatalf("%d logits for a vocabulary of %d", len(l), vocab)
						}
						return int32(argmax(l))
					},
					func(tok int32) bool { got = append(got, tok); return false })
				if err != nil {
					t.Fatal(err)
				}
				if reason != model.StopLength || len(got) != 5 {
					t.Fatalf("stopped (%v) after %v", reason, got)
				}
				for _, tok := range got {
					if tok < 0 || int(tok) >= vocab {
						t.Fatalf("token %d outside the vocabulary of %d", tok, vocab)
					}
				}
				return got
			}
			a, b := run(2, 0), run(1, 2)
			if !slices.Equal(a, b) {
				t.Errorf("tokens %v with 2 threads, %v with 1 thread and batches of 2", a, b)
			}
		})
	}
}

func argmax(x []float32) int {
	b := 0
	for i, v := range x {
		if v > x[b] {
			b = i
		}
	}
	return b
}

func TestDeterministic(t *testing.T) {
	o := synth.Options{Arch: "qwen2", Shape: "micro", Type: "Q4_K_M", Seed: 42}
	a := build(t, o)
	prev := runtime.GOMAXPROCS(1)
	b := build(t, o)
	runtime.GOMAXPROCS(prev)
	if !bytes.Equal(a, b) {
		t.Error("the same seed gave different files (1 thread vs many)")
	}
	o.Seed = 43
	if bytes.Equal(a, build(t, o)) {
		t.Error("different seeds gave the same file")
	}
}

// TestWriteFile checks the atomic write against WriteTo, and that a write
// whose context ends leaves no file, temporary or not.
func TestWriteFile(t *testing.T) {
	o := synth.Options{Shape: "micro", Type: "Q8_0", Seed: 5}
	m, err := synth.New(o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	if err := m.WriteFile(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, build(t, o)) {
		t.Errorf("WriteFile wrote %d bytes (%v), not WriteTo's", len(got), err)
	}

	dir = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.WriteFile(ctx, filepath.Join(dir, "m.gguf")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled WriteFile: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("cancelled WriteFile left %v", left)
	}
}

func TestOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		o    synth.Options
		want string
	}{
		{synth.Options{Shape: "huge", Type: "Q8_0"}, `unknown shape "huge"`},
		{synth.Options{Shape: "tiny", Type: "Q3_K_XL"}, `unknown type "Q3_K_XL"`},
		{synth.Options{Shape: "tiny", Type: "Q8_0", Arch: "mamba"}, `architecture "mamba" is not supported`},
		{synth.Options{Shape: "qwen3-0.6b", Type: "Q8_0", Arch: "phi3"}, "phi3 needs"},
	} {
		if _, err := synth.New(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
}

// TestTypesMatchLlamaCpp compares the tensor types of synthesized tiny
// models with the fixtures, which llama.cpp's quantizer made from models
// of the same shapes: dense Llama, and the mixtures of experts (Mixtral's
// 4 experts, qwen3moe's 8, whose rules differ).
func TestTypesMatchLlamaCpp(t *testing.T) {
	for _, fx := range []struct{ prefix, shape string }{{"llama", "tiny"}, {"mixtral", "mixtral-tiny"}, {"qwen3moe", "qwen3moe-tiny"}} {
		for name := range synth.FileTypes {
			path := filepath.Join(testdata.Dir(t), "models", fx.prefix+"-"+name+".gguf")
			if _, err := os.Stat(path); err != nil {
				continue // no fixture for this type
			}
			t.Run(fx.prefix+"-"+name, func(t *testing.T) {
				testdata.UnderRace(t, fx.prefix+"-"+name, "llama-Q4_K_M", "qwen3moe-F16")
				ref, err := gguf.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer ref.Close()
				got, err := gguf.Parse(build(t, synth.Options{Shape: fx.shape, Type: name}))
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, want := range ref.Tensors {
					g, ok := got.Tensor(want.Name)
					if !ok {
						continue // rope_freqs: the tiny shape has no Llama 3 RoPE
					}
					n++
					if g.Type != want.Type || !slices.Equal(g.Dims, want.Dims) {
						t.Errorf("%s: %s %v, llama.cpp %s %v", want.Name, g.Type, g.Dims, want.Type, want.Dims)
					}
				}
				if n != len(got.Tensors) {
					t.Errorf("compared %d of %d tensors", n, len(got.Tensors))
				}
				if ft, err := ref.Uint("general.file_type"); err != nil || uint32(ft) != synth.FileTypes[name].FType {
					t.Errorf("general.file_type %d, llama.cpp %d", synth.FileTypes[name].FType, ft)
				}
			})
		}
	}
}

// TestSizesMatchLlamaCpp checks the Qwen2.5-0.5B shape against the sizes
// of the models llama.cpp was benchmarked with: same tensors, same types.
func TestSizesMatchLlamaCpp(t *testing.T) {
	b, err := os.ReadFile(testdata.Path(t, "bench", "refbench.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r struct {
			Model string `json:"model"`
			Size  int64  `json:"model_size_bytes"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		typ := strings.TrimSuffix(strings.TrimPrefix(r.Model, "qwen2-0.5b-shape-"), ".gguf")
		m, err := synth.New(synth.Options{Shape: "qwen2.5-0.5b", Type: typ})
		if err != nil {
			t.Fatal(err)
		}
		if m.Bytes != r.Size {
			t.Errorf("%s: %d bytes of tensors, llama.cpp's model has %d", typ, m.Bytes, r.Size)
		}
		seen++
	}
	if seen == 0 {
		t.Fatal("no reference sizes")
	}
}

func TestSyntheticVocab(t *testing.T) {
	f, err := gguf.Parse(build(t, synth.Options{Shape: "tiny", Type: "Q8_0"}))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 512 {
		t.Errorf("vocabulary of %d tokens, want 512", tok.VocabSize())
	}
	text := "hello world, the answer is 42 ünïcödé"
	ids := tok.Encode(text, false, false)
	if got := tok.Decode(ids); got != text {
		t.Errorf("round trip: %q", got)
	}
	if ids := tok.Encode(" the", false, false); len(ids) != 1 {
		t.Errorf(`" the" is %d tokens, want 1`, len(ids))
	}
	ids = tok.Encode("<|im_start|>user", false, true)
	if len(ids) < 2 || tok.Text(ids[0]) != "<|im_start|>" {
		t.Errorf("special token not parsed: %v", ids)
	}
	if eos, ok := tok.EOS(); !ok || !tok.IsEOG(eos) {
		t.Error("no end-of-generation token")
	}
}

func TestVocabFrom(t *testing.T) {
	src, err := gguf.Open(testdata.Path(t, "tokenizers", "llama2-vocab.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := gguf.Parse(build(t, synth.Options{Arch: "llama", Shape: "tiny", Type: "Q4_0", VocabFrom: src}))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range src.Metadata {
		if strings.HasPrefix(kv.Key, "tokenizer.") && !f.Has(kv.Key) {
			t.Errorf("%s not copied", kv.Key)
		}
	}
	m, err := model.Load(f, model.Options{ContextLength: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Config().Vocab != 32000 {
		t.Errorf("vocabulary %d, want 32000", m.Config().Vocab)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	if ids := tok.Encode("Hello world", true, false); len(ids) != 3 {
		t.Errorf("Hello world: %v", ids)
	}
}

// TestMoEShapes checks the mixture-of-experts shapes' sizes: the
// Qwen3-30B-A3B shape in Q4_K_M is the size of the file people download
// (about 18.6 GB), and the metadata names its experts.
func TestMoEShapes(t *testing.T) {
	m, err := synth.New(synth.Options{Shape: "qwen3-30b-a3b", Type: "Q4_K_M"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Bytes < 18.4e9 || m.Bytes > 18.8e9 {
		t.Errorf("qwen3-30b-a3b Q4_K_M: %d bytes of tensors, want about 18.6e9", m.Bytes)
	}
	f, err := gguf.Parse(build(t, synth.Options{Shape: "qwen3moe-tiny", Type: "Q8_0"}))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]uint64{"qwen3moe.expert_count": 8, "qwen3moe.expert_used_count": 2, "qwen3moe.expert_feed_forward_length": 256} {
		if v, err := f.Uint(key); err != nil || v != want {
			t.Errorf("%s = %d (%v), want %d", key, v, err, want)
		}
	}
	if ti, ok := f.Tensor("blk.1.ffn_down_exps.weight"); !ok || !slices.Equal(ti.Dims, []uint64{256, 256, 8}) {
		t.Errorf("blk.1.ffn_down_exps.weight: %v", ti)
	}
	if _, err := synth.New(synth.Options{Arch: "gemma2", Shape: "qwen3moe-tiny", Type: "Q8_0"}); err == nil {
		t.Error("gemma2 accepted a mixture-of-experts shape")
	}
}

// TestDenseShapes checks the real-sized dense shapes against the
// parameter counts their model cards publish: a Q8_0 file holds 34
// bytes per 32 weights (norms, in F32, are a rounding error).
func TestDenseShapes(t *testing.T) {
	for shape, params := range map[string]float64{"llama3.2-3b": 3.21e9, "qwen2.5-7b": 7.62e9, "gemma3-4b": 3.88e9} {
		m, err := synth.New(synth.Options{Shape: shape, Type: "Q8_0"})
		if err != nil {
			t.Fatalf("%s: %v", shape, err)
		}
		if got := float64(m.Bytes) * 32 / 34; got < params*0.99 || got > params*1.01 {
			t.Errorf("%s: %.3g parameters, its model card says %.3g", shape, got, params)
		}
	}
}
