package model_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/model/quantize"
	"github.com/raym33/ainative/internal/tensor"
	"github.com/raym33/ainative/internal/testdata"
)

// TestMoELoadErrors checks that a mixture of experts whose metadata does
// not fit its tensors is refused with an error naming what is wrong.
func TestMoELoadErrors(t *testing.T) {
	base := synthesize(t, "", "qwen3moe-tiny", "Q8_0")
	setKey := func(key string, val any) []byte { return withKey(t, base, key, val) }
	dropKey := func(key string) []byte { return withoutKey(t, base, key) }
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"more experts than tensors hold", setKey("qwen3moe.expert_count", uint32(16)), `"blk.0.ffn_gate_inp.weight" has shape [256 8]`},
		{"fewer experts", setKey("qwen3moe.expert_count", uint32(4)), `"blk.0.ffn_gate_inp.weight" has shape [256 8]`},
		{"used above count", setKey("qwen3moe.expert_used_count", uint32(9)), "experts used <= experts"},
		{"used zero", setKey("qwen3moe.expert_used_count", uint32(0)), "experts used <= experts"},
		{"no expert count", dropKey("qwen3moe.expert_count"), "experts used <= experts"},
		{"no expert keys", rewrite(t, dropKey("qwen3moe.expert_count"), func(k string, v gguf.Value) any {
			if k == "qwen3moe.expert_used_count" {
				return nil
			}
			return v
		}, nil), "qwen3moe.expert_count is missing or 0"},
		{"expert FFN", setKey("qwen3moe.expert_feed_forward_length", uint32(128)), `"blk.0.ffn_gate_exps.weight" has shape [256 256 8]`},
		{"huge expert count", setKey("qwen3moe.expert_count", uint32(1<<30)), "larger than any tensor"},
		{"gating", setKey("qwen3moe.expert_gating_func", uint32(7)), "expert_gating_func = 7 is not supported"},
		{"block count", setKey("qwen3moe.block_count", uint32(3)), "blk.2."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := model.Load(parse(t, tc.data), model.Options{Threads: 1, ContextLength: 32})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}

	// A dense architecture's file with routers but no expert_count.
	mix := synthesize(t, "", "mixtral-tiny", "Q8_0")
	noCount := rewrite(t, mix, func(k string, v gguf.Value) any {
		if k == "llama.expert_count" || k == "llama.expert_used_count" {
			return nil
		}
		return v
	}, nil)
	_, err := model.Load(parse(t, noCount), model.Options{Threads: 1, ContextLength: 32})
	if err == nil || !strings.Contains(err.Error(), "expert_count is missing") {
		t.Fatalf("error %v, want expert_count is missing", err)
	}
	// A 2-D tensor where the experts' 3-D one belongs.
	flat := rewrite(t, base, nil, func(info gguf.TensorInfo) ([]uint64, tensor.Type, bool) {
		if info.Name == "blk.1.ffn_up_exps.weight" {
			return []uint64{info.Dims[0], info.Dims[1] * info.Dims[2]}, info.Type, true
		}
		return info.Dims, info.Type, true
	})
	_, err = model.Load(parse(t, flat), model.Options{Threads: 1, ContextLength: 32})
	if err == nil || !strings.Contains(err.Error(), `"blk.1.ffn_up_exps.weight" has shape [256 2048]`) {
		t.Fatalf("error %v, want the tensor's shape named", err)
	}
}

// TestMoEWeightBytes checks that a mixture of experts counts, per token,
// its routers and ExpertsUsed experts of each block, not all of them:
// the bytes a decode step reads.
func TestMoEWeightBytes(t *testing.T) {
	data := synthesize(t, "", "qwen3moe-tiny", "Q8_0")
	m := load(t, data, model.Options{Threads: 1, ContextLength: 32})
	f := parse(t, data)
	c := m.Config()
	if c.Experts != 8 || c.ExpertsUsed != 2 || c.ExpertFFN != 256 {
		t.Fatalf("config %d experts, %d used, FFN %d", c.Experts, c.ExpertsUsed, c.ExpertFFN)
	}
	var want, total int64
	for _, info := range f.Tensors {
		if len(info.Dims) < 2 || info.Name == "token_embd.weight" {
			continue
		}
		size, err := info.Type.Bytes(info.Dims)
		if err != nil {
			t.Fatal(err)
		}
		total += size
		if strings.Contains(info.Name, "_exps.") {
			size = size / int64(c.Experts) * int64(c.ExpertsUsed)
		}
		want += size
	}
	// Tied: the output is the embedding table, read whole at the end.
	embd, _ := f.Tensor("token_embd.weight")
	esize, _ := embd.Type.Bytes(embd.Dims)
	want += esize
	total += esize
	if got := m.WeightBytes(); got != want {
		t.Fatalf("WeightBytes %d, want %d (all experts: %d)", got, want, total)
	}
	if want*2 > total {
		t.Fatalf("active bytes %d are not well below the total %d: the test shape is wrong", want, total)
	}
}

// TestMoEF32Goldens checks the MoE fixtures' F32 goldens, whose files
// are not shipped: they are exact upcasts of the F16 files, which
// quantize's F32 type reproduces.
func TestMoEF32Goldens(t *testing.T) {
	dir, ms := loadManifests(t)
	for _, mf := range ms {
		if mf.Variant != "F32" || !strings.HasPrefix(mf.ModelFile, "mixtral") && !strings.HasPrefix(mf.ModelFile, "qwen3moe") {
			continue
		}
		t.Run(mf.ModelFile, func(t *testing.T) {
			src, err := gguf.Open(testdata.Path(t, "models", strings.Replace(mf.ModelFile, "-F32", "-F16", 1)))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			path := filepath.Join(t.TempDir(), mf.ModelFile)
			if _, err := quantize.File(context.Background(), src, path, quantize.Options{Type: "F32", Threads: 2}); err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := model.Load(f, model.Options{Threads: 2, ContextLength: mf.Settings.NCtx})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			V := mf.NVocab
			want := readF32(t, filepath.Join(dir, mf.LogitsFile))
			seq := m.NewSequence()
			got, err := m.Forward(context.Background(), seq, mf.TokenIDs, model.OutputAll, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d logits, golden %d", len(got), len(want))
			}
			d := maxDiff(got, want)
			// Greedy: feed the golden continuation a token at a time.
			wantG := readF32(t, filepath.Join(dir, mf.GreedyLogitsFile))
			dg := maxDiff(got[len(got)-V:], wantG[:V])
			for k, tok := range mf.GreedyContinuation[:len(mf.GreedyContinuation)-1] {
				l, err := m.Forward(context.Background(), seq, []int32{tok}, model.OutputLast, nil)
				if err != nil {
					t.Fatal(err)
				}
				dg = max(dg, maxDiff(l, wantG[(k+1)*V:(k+2)*V]))
			}
			t.Logf("%s: max |logit diff| batch %.2e, greedy %.2e", mf.ModelFile, d, dg)
			if tol := tolerance("F32"); d > tol || dg > tol {
				t.Errorf("max |logit diff| batch %.3e, greedy %.3e > %.0e", d, dg, tol)
			}
		})
	}
}
