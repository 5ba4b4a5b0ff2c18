package model_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/tensor"
	"github.com/raym33/ainative/internal/testdata"
)

// readEmbedGoldens reads the embeddings golden name, of the 43 texts.
func readEmbedGoldens(t testing.TB, name string) []testdata.EmbedGolden {
	t.Helper()
	gs := testdata.EmbedGoldens(t, name)
	if len(gs) != 43 {
		t.Fatalf("%s: %d lines, want 43", name, len(gs))
	}
	return gs
}

// convert rewrites an F16 model: "F32" turns every F16 tensor into F32
// (exactly the fixtures' unshipped F32 files), "Q8_0" then quantizes the
// matrices as llama.cpp's Q8_0 does (position_embd stays F16,
// token_types F32).
func convert(t *testing.T, f *gguf.File, variant string) *gguf.File {
	t.Helper()
	if variant == "F16" {
		return f
	}
	b := gguf.NewBuilder()
	for _, kv := range f.Metadata {
		if err := b.Set(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		typ, data := ti.Type, f.TensorData(ti)
		if typ == tensor.F16 {
			keep := variant == "Q8_0" && ti.Name == "position_embd.weight"
			if !keep {
				vals := make([]float32, ti.Elements())
				if err := tensor.Dequantize(tensor.F16, vals, data); err != nil {
					t.Fatal(err)
				}
				typ = tensor.F32
				data = make([]byte, 4*len(vals))
				for j, v := range vals {
					binary.LittleEndian.PutUint32(data[4*j:], math.Float32bits(v))
				}
				if variant == "Q8_0" && len(ti.Dims) == 2 {
					n, _ := tensor.Q8_0.RowBytes(int64(len(vals)))
					typ, data = tensor.Q8_0, make([]byte, n)
					if err := tensor.Quantize(tensor.Q8_0, data, vals); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if err := b.AddTensor(ti.Name, typ, ti.Dims, data); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return parse(t, buf.Bytes())
}

// TestEmbedGolden compares Embed with llama.cpp's embeddings of the 43
// texts (given as the golden's ids), all texts in one call, so that the
// encoders run them batched.
func TestEmbedGolden(t *testing.T) {
	for _, c := range []struct {
		model, variant, golden string
		pooling                model.Pooling
		minCos                 float64
	}{
		{"bert", "F16", "bert-F16.embed.mean.jsonl", model.PoolingModel, 0.9999},
		{"bert", "F32", "bert-F32.embed.mean.jsonl", model.PoolingMean, 0.9999},
		{"bert", "F32", "bert-F32.embed.cls.jsonl", model.PoolingCLS, 0.9999},
		{"bert", "Q8_0", "bert-F32.embed.mean.jsonl", model.PoolingModel, 0.999},
		{"nomicbert", "F16", "nomicbert-F16.embed.mean.jsonl", model.PoolingModel, 0.9999},
		{"nomicbert", "F32", "nomicbert-F32.embed.mean.jsonl", model.PoolingMean, 0.9999},
		{"nomicbert", "F32", "nomicbert-F32.embed.cls.jsonl", model.PoolingCLS, 0.9999},
		{"nomicbert", "Q8_0", "nomicbert-F32.embed.cls.jsonl", model.PoolingCLS, 0.999},
		{"qwen3", "F16", "qwen3-F16.embed.last.jsonl", model.PoolingLast, 0.9999},
		{"qwen3", "F16", "qwen3-F16.embed.mean.jsonl", model.PoolingMean, 0.9999},
	} {
		t.Run(c.model+"-"+c.variant+"-"+c.pooling.String()+"-"+c.golden, func(t *testing.T) {
			testdata.UnderRace(t, c.variant+"-"+c.golden, "F16-bert-F16.embed.mean.jsonl",
				"F16-nomicbert-F16.embed.mean.jsonl", "F16-qwen3-F16.embed.last.jsonl")
			gs := readEmbedGoldens(t, c.golden)
			f, err := gguf.Open(testdata.Path(t, "models", c.model+"-F16.gguf"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := model.Load(convert(t, f, c.variant), model.Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			var inputs [][]int32
			var want []testdata.EmbedGolden
			for _, g := range gs {
				switch {
				case len(g.IDs) == 0:
					if g.Embedding != nil {
						t.Fatalf("%q: golden has an embedding without tokens", g.Text)
					}
					if _, err := m.Embed(context.Background(), [][]int32{g.IDs}, model.EmbedOptions{}); !errors.Is(err, model.ErrEmptyInput) {
						t.Errorf("Embed of no tokens: err = %v, want ErrEmptyInput", err)
					}
				case len(g.IDs) > m.ContextLength():
					if _, err := m.Embed(context.Background(), [][]int32{g.IDs}, model.EmbedOptions{}); !errors.Is(err, model.ErrContextFull) {
						t.Errorf("Embed of %d tokens: err = %v, want ErrContextFull", len(g.IDs), err)
					}
				default:
					inputs = append(inputs, g.IDs)
					want = append(want, g)
				}
			}
			if len(inputs) < 40 {
				t.Fatalf("only %d texts to embed", len(inputs))
			}
			got, err := m.Embed(context.Background(), inputs, model.EmbedOptions{Pooling: c.pooling})
			if err != nil {
				t.Fatal(err)
			}
			worst, maxDiff := 1.0, 0.0
			for i, g := range want {
				if len(got[i]) != len(g.Embedding) {
					t.Fatalf("%q: %d floats, want %d", g.Text, len(got[i]), len(g.Embedding))
				}
				for d := range g.Embedding {
					maxDiff = max(maxDiff, math.Abs(float64(got[i][d]-g.Embedding[d])))
				}
				cos := testdata.Cosine(got[i], g.Embedding)
				worst = min(worst, cos)
				if !(cos >= c.minCos) {
					t.Errorf("%q: cosine %.6f < %g", g.Text, cos, c.minCos)
				}
			}
			t.Logf("%d texts, min cosine %.7f, max abs diff %.2g", len(want), worst, maxDiff)
		})
	}
}

func TestEmbedNormalizeAndErrors(t *testing.T) {
	f, err := gguf.Open(testdata.Path(t, "models", "bert-F16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := model.Load(f, model.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.IsEncoder() || m.Pooling() != model.PoolingMean || !m.NormalizeEmbeddings() {
		t.Fatalf("IsEncoder %v, Pooling %v, NormalizeEmbeddings %v", m.IsEncoder(), m.Pooling(), m.NormalizeEmbeddings())
	}
	ctx := context.Background()
	in := [][]int32{{101, 511, 438, 102}, {101, 102}}
	raw, err := m.Embed(ctx, in, model.EmbedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	unit, err := m.Embed(ctx, in, model.EmbedOptions{Normalize: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		var n float64
		for _, v := range unit[i] {
			n += float64(v) * float64(v)
		}
		if math.Abs(n-1) > 1e-5 || testdata.Cosine(raw[i], unit[i]) < 0.999999 {
			t.Errorf("input %d: normalized norm² %g, cosine to raw %g", i, n, testdata.Cosine(raw[i], unit[i]))
		}
	}
	// Alone or in a batch: the same vector (texts do not see each other).
	alone, err := m.Embed(ctx, in[1:], model.EmbedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for d := range alone[0] {
		if alone[0][d] != raw[1][d] {
			t.Fatalf("batched and alone differ at %d: %g vs %g", d, raw[1][d], alone[0][d])
		}
	}
	none, err := m.Embed(ctx, in[:1], model.EmbedOptions{Pooling: model.PoolingNone})
	if err != nil || len(none[0]) != 4*m.Config().Embed {
		t.Fatalf("PoolingNone: %d floats, err %v", len(none[0]), err)
	}
	for _, c := range []struct {
		in   [][]int32
		want string
	}{
		{[][]int32{{101}, {}}, "input 1"},
		{[][]int32{{101, 512}}, "out of range"},
		{[][]int32{make([]int32, 513)}, "context"},
	} {
		if _, err := m.Embed(ctx, c.in, model.EmbedOptions{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Embed(%d inputs): err = %v, want it to mention %q", len(c.in), err, c.want)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Embed(cancelled, in, model.EmbedOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Embed with a cancelled context: err = %v", err)
	}
	seq := m.NewSequence()
	if _, err := m.Forward(ctx, seq, []int32{101}, model.OutputLast, nil); err == nil || !strings.Contains(err.Error(), "encoder") {
		t.Errorf("Forward on an encoder: err = %v", err)
	}
	if _, err := model.ParsePooling("max"); err == nil {
		t.Error("ParsePooling(max) succeeded")
	}
	if p, err := model.ParsePooling("cls"); err != nil || p != model.PoolingCLS {
		t.Errorf("ParsePooling(cls) = %v, %v", p, err)
	}
}

// TestEmbedDecoderChunks checks that a decoder's embeddings do not depend
// on how Forward cuts a text into ubatches (OutputEmbeddings over several
// chunks), nor on Forward's logits interleaved on the same model.
func TestEmbedDecoderChunks(t *testing.T) {
	f, err := gguf.Open(testdata.Path(t, "models", "qwen3-F16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	in := [][]int32{{5, 9, 200, 17, 3, 44, 81, 90, 11, 12, 13, 14, 15, 16, 400, 1, 2}, {7}}
	var ref [][]float32
	for _, bs := range []int{0, 4} {
		m, err := model.Load(f, model.Options{Threads: 2, BatchSize: bs})
		if err != nil {
			t.Fatal(err)
		}
		if m.IsEncoder() || m.Pooling() != model.PoolingNone {
			t.Fatalf("qwen3: IsEncoder %v, Pooling %v", m.IsEncoder(), m.Pooling())
		}
		got, err := m.Embed(ctx, in, model.EmbedOptions{Pooling: model.PoolingMean})
		if err != nil {
			t.Fatal(err)
		}
		logits, err := m.Forward(ctx, m.NewSequence(), in[0], model.OutputLast, nil)
		if err != nil || len(logits) != m.Config().Vocab {
			t.Fatalf("Forward after Embed: %d logits, %v", len(logits), err)
		}
		if _, err := m.Embed(ctx, in, model.EmbedOptions{Pooling: model.PoolingNone}); err != nil {
			t.Fatal(err)
		}
		m.Close()
		if ref == nil {
			ref = got
			continue
		}
		for i := range in {
			if c := testdata.Cosine(got[i], ref[i]); c < 0.999999 {
				t.Errorf("BatchSize %d, input %d: cosine %g to one ubatch", bs, i, c)
			}
		}
	}
}

// rebuilt copies f with metadata key set to val (removed when val is
// nil) and without tensor drop.
func rebuilt(t *testing.T, f *gguf.File, key string, val any, drop string) *gguf.File {
	t.Helper()
	b := gguf.NewBuilder()
	for _, kv := range f.Metadata {
		if kv.Key == key {
			continue
		}
		if err := b.Set(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	if val != nil {
		if err := b.Set(key, val); err != nil {
			t.Fatal(err)
		}
	}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if ti.Name == drop {
			continue
		}
		if err := b.AddTensor(ti.Name, ti.Type, ti.Dims, f.TensorData(ti)); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return parse(t, buf.Bytes())
}

func TestEncoderLoadErrors(t *testing.T) {
	for _, name := range []string{"bert", "nomicbert"} {
		f, err := gguf.Open(testdata.Path(t, "models", name+"-F16.gguf"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		arch, _ := f.Architecture()
		for _, c := range []struct {
			key  string
			val  any
			drop string
			want string
		}{
			{arch + ".pooling_type", uint32(4), "", "pooling_type = 4 is not supported"},
			{arch + ".attention.head_count", uint32(3), "", "head_count 3"},
			{arch + ".block_count", uint32(3), "", `"blk.2.`},
			{arch + ".embedding_length", nil, "", "embedding_length"},
			{"", nil, "blk.1.layer_output_norm.bias", `"blk.1.layer_output_norm.bias" is missing`},
			{"", nil, "token_embd_norm.weight", `"token_embd_norm.weight" is missing`},
		} {
			_, err := model.Load(rebuilt(t, f, c.key, c.val, c.drop), model.Options{Threads: 1})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s, %s=%v, without %q: err = %v, want it to mention %q", name, c.key, c.val, c.drop, err, c.want)
			}
		}
	}
}

// TestEmbedConcurrent calls Embed from several goroutines on one encoder
// and one decoder: every call gets the vectors of a lone call.
func TestEmbedConcurrent(t *testing.T) {
	for _, c := range []struct {
		name    string
		pooling model.Pooling
	}{{"bert", model.PoolingModel}, {"qwen3", model.PoolingLast}} {
		f, err := gguf.Open(testdata.Path(t, "models", c.name+"-F16.gguf"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := model.Load(f, model.Options{Threads: 2, ContextLength: 64})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		in := [][]int32{{101, 300, 301, 102}, {101, 400, 102}, {101, 102}}
		opts := model.EmbedOptions{Pooling: c.pooling, Normalize: true}
		want, err := m.Embed(context.Background(), in, opts)
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				got, err := m.Embed(context.Background(), in, opts)
				if err == nil {
					for i := range want {
						if testdata.Cosine(got[i], want[i]) < 0.999999 {
							err = fmt.Errorf("%s: input %d differs", c.name, i)
						}
					}
				}
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	}
}

// BenchmarkEmbed embeds the 43 fixture texts (1,365 tokens with [CLS]
// and [SEP]) in one call; tokens/s is reported.
func BenchmarkEmbed(b *testing.B) {
	for _, name := range []string{"bert", "nomicbert"} {
		b.Run(name, func(b *testing.B) {
			f, err := gguf.Open(testdata.Path(b, "models", name+"-F16.gguf"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			m, err := model.Load(f, model.Options{Threads: 2})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			var in [][]int32
			n := 0
			for _, l := range readEmbedGoldens(b, name+"-F16.embed.mean.jsonl") {
				in = append(in, l.IDs)
				n += len(l.IDs)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := m.Embed(context.Background(), in, model.EmbedOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
