package model_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/leaktest"
	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/model/synth"
	"github.com/raym33/ainative/internal/sample"
	"github.com/raym33/ainative/internal/tensor"
	"github.com/raym33/ainative/internal/testdata"
)

// tiny returns a synthesized tiny model of arch in file type typ.
func tiny(t testing.TB, arch, typ string) []byte { return synthesize(t, arch, "tiny", typ) }

func synthesize(t testing.TB, arch, shape, typ string) []byte {
	t.Helper()
	m, err := synth.New(synth.Options{Arch: arch, Shape: shape, Type: typ, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func parse(t testing.TB, data []byte) *gguf.File {
	t.Helper()
	f, err := gguf.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func load(t testing.TB, data []byte, o model.Options) *model.Model {
	t.Helper()
	m, err := model.Load(parse(t, data), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// rewrite copies a GGUF file, letting meta change metadata (return nil
// to drop a key), tens change tensors (return keep=false to drop one),
// and adding the key/value pairs in extra.
func rewrite(t testing.TB, data []byte, meta func(key string, v gguf.Value) any, tens func(info gguf.TensorInfo) (dims []uint64, typ tensor.Type, keep bool), extra ...any) []byte {
	t.Helper()
	f := parse(t, data)
	b := gguf.NewBuilder()
	for i := 0; i+1 < len(extra); i += 2 {
		if err := b.Set(extra[i].(string), extra[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range f.Metadata {
		var v any = kv.Value
		if meta != nil {
			v = meta(kv.Key, kv.Value)
		}
		if v != nil {
			if err := b.Set(kv.Key, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, info := range f.Tensors {
		dims, typ, keep := info.Dims, info.Type, true
		if tens != nil {
			dims, typ, keep = tens(info)
		}
		if !keep {
			continue
		}
		size, err := typ.Bytes(dims)
		if err != nil {
			t.Fatal(err)
		}
		d := f.TensorData(&info)
		buf := make([]byte, size)
		copy(buf, d)
		if err := b.AddTensor(info.Name, typ, dims, buf); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if _, err := b.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// withKey returns data with metadata key set to val, added if missing.
func withKey(t testing.TB, data []byte, key string, val any) []byte {
	t.Helper()
	if !parse(t, data).Has(key) {
		return rewrite(t, data, nil, nil, key, val)
	}
	return rewrite(t, data, func(k string, v gguf.Value) any {
		if k == key {
			return val
		}
		return v
	}, nil)
}

// withoutKey returns data without metadata key.
func withoutKey(t testing.TB, data []byte, key string) []byte {
	t.Helper()
	return rewrite(t, data, func(k string, v gguf.Value) any {
		if k == key {
			return nil
		}
		return v
	}, nil)
}

func TestLoadErrors(t *testing.T) {
	base := tiny(t, "llama", "Q8_0")
	setKey := func(key string, val any) []byte { return withKey(t, base, key, val) }
	dropKey := func(key string) []byte { return withoutKey(t, base, key) }
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"unsupported arch", setKey("general.architecture", "mamba"), `architecture "mamba" is not supported (supported: gemma2, gemma3, llama, phi3, qwen2, qwen3, qwen3moe)`},
		{"no arch", dropKey("general.architecture"), "general.architecture"},
		{"missing key", dropKey("llama.block_count"), "llama.block_count"},
		{"missing eps", dropKey("llama.attention.layer_norm_rms_epsilon"), "layer_norm_rms_epsilon"},
		{"heads", setKey("llama.attention.head_count", uint32(3)), "multiple of the key/value heads"},
		{"per-layer heads", setKey("llama.attention.head_count", []uint32{4, 2}), "differs between layers"},
		{"shape vs metadata", setKey("llama.embedding_length", uint32(512)), "has shape [256 512], want [512 vocab]"},
		{"ffn vs tensor", setKey("llama.feed_forward_length", uint32(1024)), `"blk.0.ffn_gate.weight" has shape [256 512], but the metadata implies [256 1024]`},
		{"rope dims", setKey("llama.rope.dimension_count", uint32(80)), "rope.dimension_count 80"},
		{"rope type", setKey("llama.rope.scaling.type", "weird"), `rope.scaling.type "weird"`},
		{"mistyped key", setKey("llama.block_count", "two"), "llama.block_count"},
		{"missing tensor", rewrite(t, base, nil, func(i gguf.TensorInfo) ([]uint64, tensor.Type, bool) {
			return i.Dims, i.Type, i.Name != "blk.1.attn_v.weight"
		}), `tensor "blk.1.attn_v.weight" is missing`},
		{"unsupported type", rewrite(t, base, nil, func(i gguf.TensorInfo) ([]uint64, tensor.Type, bool) {
			if i.Name == "blk.0.ffn_up.weight" {
				return i.Dims, tensor.IQ2_XXS, true
			}
			return i.Dims, i.Type, true
		}), `"blk.0.ffn_up.weight" has type IQ2_XXS`},
		{"1-D shape", rewrite(t, base, nil, func(i gguf.TensorInfo) ([]uint64, tensor.Type, bool) {
			if i.Name == "output_norm.weight" {
				return []uint64{128}, i.Type, true
			}
			return i.Dims, i.Type, true
		}), `"output_norm.weight" has shape [128]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := model.Load(parse(t, tc.data), model.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := model.Load(parse(t, base), model.Options{KVType: tensor.Q8_0}); err == nil {
		t.Error("a Q8_0 KV cache was accepted")
	}
}

func TestForwardErrors(t *testing.T) {
	m := load(t, tiny(t, "qwen2", "Q8_0"), model.Options{ContextLength: 8, Threads: 2})
	ctx := context.Background()
	seq := m.NewSequence()
	if _, err := m.Forward(ctx, seq, []int32{1, 512}, model.OutputLast, nil); err == nil || !strings.Contains(err.Error(), "token 512 at index 1 is out of range") {
		t.Errorf("out-of-range token: %v", err)
	}
	if _, err := m.Forward(ctx, seq, []int32{-1}, model.OutputLast, nil); err == nil {
		t.Error("negative token accepted")
	}
	if _, err := m.Forward(ctx, seq, make([]int32, 9), model.OutputLast, nil); !errors.Is(err, model.ErrContextFull) {
		t.Errorf("9 tokens in a context of 8: %v", err)
	}
	if _, err := m.Forward(ctx, seq, make([]int32, 6), model.OutputNone, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Forward(ctx, seq, make([]int32, 3), model.OutputLast, nil); !errors.Is(err, model.ErrContextFull) {
		t.Errorf("6+3 tokens in a context of 8: %v", err)
	}
	if seq.Len() != 6 {
		t.Errorf("failed Forward changed the sequence: %d tokens", seq.Len())
	}
	other := load(t, tiny(t, "qwen2", "Q8_0"), model.Options{ContextLength: 8})
	if _, err := other.Forward(ctx, seq, []int32{1}, model.OutputLast, nil); err == nil {
		t.Error("Forward accepted another model's sequence")
	}
	// Generation stops, without error, when the context is full.
	seq = m.NewSequence()
	n := 0
	reason, err := m.Generate(ctx, seq, []int32{1, 2, 3}, 100, func([]float32) int32 { return 5 }, func(int32) bool { n++; return false })
	if err != nil || reason != model.StopContext || seq.Len() != 8 || n != 6 {
		t.Errorf("Generate in a full context: reason %v, err %v, %d tokens in the sequence, %d emitted", reason, err, seq.Len(), n)
	}
	m.Close()
	if _, err := m.Forward(ctx, m.NewSequence(), []int32{1}, model.OutputLast, nil); err == nil {
		t.Error("Forward after Close succeeded")
	}
}

func TestBench(t *testing.T) {
	m := load(t, tiny(t, "llama", "Q4_0"), model.Options{ContextLength: 16, Threads: 2})
	r, err := m.Bench(context.Background(), model.BenchOptions{PromptTokens: 8, DecodeTokens: 4, Reps: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.PromptAll) != 2 || len(r.DecodeAll) != 2 || !(r.PromptTokS > 0) || !(r.DecodeTokS > 0) {
		t.Errorf("bench result %+v", r)
	}
	for _, o := range []model.BenchOptions{{PromptTokens: -1, DecodeTokens: -1}, {PromptTokens: -8, DecodeTokens: 4}} {
		if _, err := m.Bench(context.Background(), o); err == nil || !strings.Contains(err.Error(), "negative") {
			t.Errorf("Bench(%+v): %v", o, err)
		}
	}
	if _, err := m.Bench(context.Background(), model.BenchOptions{PromptTokens: 17}); !errors.Is(err, model.ErrContextFull) {
		t.Errorf("prompt longer than the context: %v", err)
	}
}

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestBatchingInvariance checks that the logits do not depend on how the
// tokens are batched: one Forward, tiny ubatches, or one token a step.
func TestBatchingInvariance(t *testing.T) {
	ctx := context.Background()
	tokens := []int32{3, 141, 59, 26, 53, 58, 97, 93, 238, 462, 64, 33, 83, 279, 50, 288}
	for _, arch := range synth.Archs {
		t.Run(arch, func(t *testing.T) {
			testdata.UnderRace(t, arch, "gemma2", "qwen3moe")
			data := tiny(t, arch, "F32")
			m := load(t, data, model.Options{ContextLength: 64, Threads: 2})
			all, err := m.Forward(ctx, m.NewSequence(), tokens, model.OutputAll, nil)
			if err != nil {
				t.Fatal(err)
			}
			small := load(t, data, model.Options{ContextLength: 64, Threads: 3, BatchSize: 3})
			chunked, err := small.Forward(ctx, small.NewSequence(), tokens, model.OutputAll, nil)
			if err != nil {
				t.Fatal(err)
			}
			seq := m.NewSequence()
			var steps []float32
			for _, tok := range tokens {
				if steps, err = m.Forward(ctx, seq, []int32{tok}, model.OutputAll, steps); err != nil {
					t.Fatal(err)
				}
			}
			last, err := m.Forward(ctx, m.NewSequence(), tokens, model.OutputLast, nil)
			if err != nil {
				t.Fatal(err)
			}
			V := m.Config().Vocab
			// Summation orders differ between batch and single-token
			// kernels (float32, ~1e-7 relative); Gemma's GELU goes
			// through an F16 table, where such a difference occasionally
			// crosses a rounding boundary of the table's input.
			tol := 1e-5
			if arch == "gemma2" || arch == "gemma3" {
				tol = 5e-4
			}
			if d := maxAbsDiff(all, chunked); d > tol {
				t.Errorf("ubatch 3 vs one batch: max diff %g", d)
			}
			if d := maxAbsDiff(all, steps); d > tol {
				t.Errorf("token by token vs one batch: max diff %g", d)
			}
			if d := maxAbsDiff(all[len(all)-V:], last); d > tol || len(last) != V {
				t.Errorf("OutputLast vs the last row of OutputAll: max diff %g, %d logits", d, len(last))
			}
		})
	}
}

func TestKVTypes(t *testing.T) {
	ctx := context.Background()
	data := tiny(t, "llama", "F16")
	tokens := []int32{1, 2, 3, 4, 5, 6, 7, 8}
	var out [2][]float32
	for i, kv := range []tensor.Type{tensor.F32, tensor.F16} {
		m := load(t, data, model.Options{ContextLength: 16, KVType: kv})
		var err error
		if out[i], err = m.Forward(ctx, m.NewSequence(), tokens, model.OutputAll, nil); err != nil {
			t.Fatal(err)
		}
		if m.KVBytesPerToken() != int64(2*2*2*64*(4-2*i)) {
			t.Errorf("%s KV: %d bytes per token", kv, m.KVBytesPerToken())
		}
	}
	// An F16 cache rounds keys, values, queries and probabilities: close,
	// not equal.
	if d := maxAbsDiff(out[0], out[1]); d == 0 || d > 1e-2 {
		t.Errorf("F16 vs F32 KV cache: max diff %g", d)
	}
}

func TestTruncate(t *testing.T) {
	ctx := context.Background()
	m := load(t, tiny(t, "gemma3", "Q8_0"), model.Options{ContextLength: 32})
	a, b, c := []int32{5, 6, 7, 8}, []int32{9, 10, 11}, []int32{12, 13}
	seq := m.NewSequence()
	if _, err := m.Forward(ctx, seq, append(append([]int32{}, a...), b...), model.OutputNone, nil); err != nil {
		t.Fatal(err)
	}
	seq.Truncate(len(a))
	got, err := m.Forward(ctx, seq, c, model.OutputAll, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Forward(ctx, m.NewSequence(), append(append([]int32{}, a...), c...), model.OutputAll, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(got, want[len(a)*m.Config().Vocab:]); d > 1e-5 {
		t.Errorf("after Truncate: max diff %g", d)
	}
}

func TestCancel(t *testing.T) {
	m := load(t, tiny(t, "llama", "Q8_0"), model.Options{ContextLength: 64})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	seq := m.NewSequence()
	if _, err := m.Forward(ctx, seq, []int32{1, 2, 3}, model.OutputLast, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Forward: %v", err)
	}
	if seq.Len() != 0 {
		t.Errorf("cancelled Forward left %d tokens", seq.Len())
	}
}

// TestConcurrentSequences runs several sequences over one model from
// several goroutines (run with -race) and checks each against a run alone.
func TestConcurrentSequences(t *testing.T) {
	ctx := context.Background()
	m := load(t, tiny(t, "qwen3", "Q4_K_M"), model.Options{ContextLength: 64, Threads: 2, KVType: tensor.F16})
	greedy := func(prompt []int32) []int32 {
		var out []int32
		_, err := m.Generate(ctx, m.NewSequence(), prompt, 8,
			sample.Argmax,
			func(tok int32) bool { out = append(out, tok); return false })
		if err != nil {
			t.Error(err)
		}
		return out
	}
	prompts := [][]int32{{1, 2, 3}, {40, 41}, {7}, {100, 200, 300, 400}}
	want := make([][]int32, len(prompts))
	for i, p := range prompts {
		want[i] = greedy(p)
	}
	var wg sync.WaitGroup
	for i, p := range prompts {
		wg.Go(func() {
			if got := greedy(p); !equal(got, want[i]) {
				t.Errorf("prompt %d: concurrent %v, alone %v", i, got, want[i])
			}
		})
	}
	wg.Wait()
}

func equal(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNoGoroutineLeak(t *testing.T) {
	leaktest.Check(t)
	data := tiny(t, "phi3", "Q8_0")
	for range 3 {
		m, err := model.Load(parse(t, data), model.Options{Threads: 4, ContextLength: 16})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Forward(context.Background(), m.NewSequence(), []int32{1, 2}, model.OutputLast, nil); err != nil {
			t.Fatal(err)
		}
		m.Close()
		m.Close() // idempotent
	}
}

// TestPhi3LongRope checks that the long-rope factors are chosen when the
// context exceeds the original training context, as llama.cpp does.
func TestPhi3LongRope(t *testing.T) {
	data := tiny(t, "phi3", "F32")
	ctx := context.Background()
	tokens := []int32{1, 2, 3, 4, 5}
	short := load(t, data, model.Options{ContextLength: 1024}) // original context: 1024
	long := load(t, data, model.Options{ContextLength: 2048})
	a, err := short.Forward(ctx, short.NewSequence(), tokens, model.OutputLast, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := long.Forward(ctx, long.NewSequence(), tokens, model.OutputLast, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d and %d logits", len(a), len(b))
	}
	if maxAbsDiff(a, b) == 0 {
		t.Error("long and short rope factors gave the same logits")
	}
}

// FuzzLoad feeds corrupted models to Load and a short Forward: errors
// are fine, panics and hangs are not.
func FuzzLoad(f *testing.F) {
	for _, arch := range synth.Archs {
		f.Add(synthesize(f, arch, "micro", "Q4_0"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := gguf.Parse(data)
		if err != nil {
			return
		}
		m, err := model.Load(g, model.Options{ContextLength: 8, Threads: 1, BatchSize: 4})
		if err != nil {
			return
		}
		defer m.Close()
		m.Forward(context.Background(), m.NewSequence(), []int32{0, 1}, model.OutputAll, nil)
	})
}
