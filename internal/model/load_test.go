package model_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/model/synth"
	"github.com/raym33/ainative/internal/tokenizer"
)

// microModels holds one micro model (a few kB) per architecture, built
// once: the bases the metadata tests and the fuzz target mutate.
var microModels = sync.OnceValues(func() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, arch := range synth.Archs {
		m, err := synth.New(synth.Options{Arch: arch, Shape: "micro", Type: "Q8_0", Seed: 3})
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if _, err := m.WriteTo(&buf); err != nil {
			return nil, err
		}
		out[arch] = buf.Bytes()
	}
	return out, nil
})

func micro(t testing.TB, arch string) []byte {
	t.Helper()
	models, err := microModels()
	if err != nil {
		t.Fatal(err)
	}
	return models[arch]
}

// withMeta returns data with metadata key set to val (added if absent).
func withMeta(t testing.TB, data []byte, key string, val any) []byte {
	t.Helper()
	f, err := gguf.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Rebuild(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Set(key, val); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// allocated runs fn and returns the bytes it allocated.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestMetadataSizesBounded checks that sizes in the metadata are held to
// what the file can hold before anything is allocated for them: a file
// of a few kB claiming 2^31-1 blocks (or a hidden size as large) is an
// error naming the key and the limit, and costs no more than the file.
func TestMetadataSizesBounded(t *testing.T) {
	base := micro(t, "llama")
	cases := []struct {
		key  string
		val  any
		want string
	}{
		{"llama.block_count", uint32(math.MaxInt32), "llama.block_count = 2147483647, but the file's"},
		{"llama.block_count", uint32(1000), "make at most"},
		{"llama.embedding_length", uint32(math.MaxInt32), "llama.embedding_length = 2147483647 is larger than any tensor of the file (the largest has"},
		{"llama.feed_forward_length", uint32(1 << 30), "llama.feed_forward_length = 1073741824 is larger than any tensor"},
		{"llama.feed_forward_length", []uint32{1 << 30}, "llama.feed_forward_length = 1073741824 is larger than any tensor"},
		{"llama.attention.head_count", uint32(1 << 30), "llama.attention.head_count = 1073741824 is larger than any tensor"},
		{"llama.attention.head_count_kv", uint32(1 << 30), "llama.attention.head_count_kv = 1073741824 is larger"},
		{"llama.attention.key_length", uint32(1 << 30), "llama.attention.key_length = 1073741824 is larger"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s=%v", c.key, c.val), func(t *testing.T) {
			data := withMeta(t, base, c.key, c.val)
			var err error
			n := allocated(func() {
				var f *gguf.File
				if f, err = gguf.Parse(data); err != nil {
					return
				}
				var m *model.Model
				if m, err = model.Load(f, model.Options{ContextLength: 8, Threads: 1}); err == nil {
					m.Close()
				}
			})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
			if limit := uint64(64 * len(data)); n > limit {
				t.Errorf("loading a %d-byte file allocated %d bytes (limit %d)", len(data), n, limit)
			}
		})
	}
}

// TestNonFiniteMetadata checks that float hyperparameters that are NaN
// or infinite are refused, naming the key, rather than giving NaN logits.
func TestNonFiniteMetadata(t *testing.T) {
	for _, key := range []string{
		"llama.attention.layer_norm_rms_epsilon", "llama.rope.freq_base", "llama.rope.scaling.attn_factor",
		"llama.rope.scaling.factor", "llama.attn_logit_softcapping", "llama.final_logit_softcapping",
	} {
		for _, v := range []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())} {
			data := withMeta(t, micro(t, "llama"), key, v)
			f, err := gguf.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			m, err := model.Load(f, model.Options{ContextLength: 8, Threads: 1})
			if err == nil {
				m.Close()
				t.Errorf("%s = %v: loaded", key, v)
				continue
			}
			if !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "finite") {
				t.Errorf("%s = %v: error %q does not name the key and the rule", key, v, err)
			}
		}
	}
	// A tiny scaling factor makes an infinite frequency scale.
	data := withMeta(t, micro(t, "llama"), "llama.rope.scaling.factor", float32(1e-40))
	if m, err := model.Load(parse(t, data), model.Options{ContextLength: 8, Threads: 1}); err == nil {
		m.Close()
		t.Error("rope.scaling.factor 1e-40: loaded")
	}
}

// loadMapped writes the model o describes to a file and loads it from the
// file's mapping with a context of 8 and the given threads. The caller
// closes both.
func loadMapped(t *testing.T, o synth.Options, threads int) (*gguf.File, *model.Model) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.gguf")
	sm, err := synth.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := sm.WriteFile(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(f, model.Options{ContextLength: 8, Threads: threads})
	if err != nil {
		f.Close()
		t.Fatal(err)
	}
	return f, m
}

// TestModelOwnsMapping checks that a model keeps the file's mapping alive
// after the file is closed, and releases it on Close: the daemon unloads
// models while requests still run.
func TestModelOwnsMapping(t *testing.T) {
	f, m := loadMapped(t, synth.Options{Arch: "llama", Shape: "micro", Type: "Q8_0", Seed: 3}, 1)
	ctx := context.Background()
	tokens := []int32{1, 2, 3}
	want, err := m.Forward(ctx, m.NewSequence(), tokens, model.OutputAll, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := m.Forward(ctx, m.NewSequence(), tokens, model.OutputAll, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slicesEqual(got, want) {
		t.Error("logits after the file's Close differ")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Acquire(); !errors.Is(err, gguf.ErrClosed) {
		t.Errorf("after both closed, Acquire = %v: the mapping was not released", err)
	}
	// A model cannot be loaded from a closed file.
	if _, err := model.Load(f, model.Options{ContextLength: 8, Threads: 1}); err == nil {
		t.Error("Load of a closed file succeeded")
	}
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// metaValue turns the fuzzer's numbers into a metadata value of one of
// the GGUF types.
func metaValue(kind uint8, i int64, x float64) any {
	switch kind % 12 {
	case 0:
		return uint32(i)
	case 1:
		return int32(i)
	case 2:
		return uint64(i)
	case 3:
		return i
	case 4:
		return float32(x)
	case 5:
		return x
	case 6:
		return i&1 == 1
	case 7:
		return fmt.Sprint(i)
	case 8:
		return []uint32{uint32(i)}
	case 9:
		return []int32{int32(i), int32(i >> 32)}
	case 10:
		return []float32{float32(x)}
	default:
		return uint8(i)
	}
}

// FuzzLoadMetadata sets one metadata key of a valid micro model (any
// architecture, any key, tokenizer keys included, or a key of the
// architecture the file lacks) to a value of any type, then loads the
// model and its tokenizer and runs a short forward pass. Errors are
// fine; panics, hangs and allocations beyond a bound are not.
func FuzzLoadMetadata(f *testing.F) {
	f.Add(uint8(2), uint16(0), uint8(0), int64(math.MaxInt32), 0.0)   // block_count etc.
	f.Add(uint8(2), uint16(3), uint8(4), int64(0), math.Inf(1))       // a float key
	f.Add(uint8(0), uint16(7), uint8(8), int64(1<<40), 0.0)           // an array
	f.Add(uint8(3), uint16(1000), uint8(0), int64(1<<20), 0.0)        // an absent optional key
	f.Add(uint8(5), uint16(12), uint8(3), int64(-1), math.NaN())      // negative
	f.Add(uint8(1), uint16(20), uint8(10), int64(5), math.MaxFloat64) // huge float
	f.Add(uint8(6), uint16(1014), uint8(0), int64(1), 0.0)            // qwen3moe: expert_count (optional[1014%17])
	f.Add(uint8(6), uint16(1015), uint8(0), int64(9), 0.0)            // expert_used_count above the count
	f.Add(uint8(6), uint16(1017), uint8(0), int64(2), 0.0)            // sigmoid gating
	f.Add(uint8(6), uint16(1018), uint8(6), int64(0), 0.0)            // expert_weights_norm false
	f.Add(uint8(2), uint16(1014), uint8(0), int64(4), 0.0)            // expert_count on a dense llama file
	optional := []string{
		"attention.key_length", "attention.value_length", "rope.dimension_count", "rope.scaling.factor",
		"rope.scaling.type", "rope.scaling.original_context_length", "attention.sliding_window",
		"attention.sliding_window_pattern", "vocab_size", "rope.scale_linear", "rope.scaling.yarn_ext_factor",
		"expert_count", "expert_used_count", "expert_feed_forward_length", "expert_gating_func",
		"expert_weights_norm", "expert_weights_scale",
	}
	f.Fuzz(func(t *testing.T, archIdx uint8, keyIdx uint16, kind uint8, i int64, x float64) {
		arch := synth.Archs[int(archIdx)%len(synth.Archs)]
		base := micro(t, arch)
		g := parse(t, base)
		var key string
		if k := int(keyIdx); k < len(g.Metadata) {
			key = g.Metadata[k].Key
		} else {
			key = arch + "." + optional[k%len(optional)]
		}
		if key == "general.alignment" {
			return // the Builder itself refuses bad alignments
		}
		data := withMeta(t, base, key, metaValue(kind, i, x))
		n := allocated(func() {
			f, err := gguf.Parse(data)
			if err != nil {
				return
			}
			tokenizer.FromGGUF(f)
			m, err := model.Load(f, model.Options{ContextLength: 8, Threads: 1, BatchSize: 4})
			if err != nil {
				return
			}
			defer m.Close()
			if _, err := m.Forward(context.Background(), m.NewSequence(), []int32{0, 1}, model.OutputAll, nil); err != nil {
				t.Errorf("%s = %v: loaded, but Forward: %v", key, metaValue(kind, i, x), err)
			}
		})
		if limit := uint64(256 << 20); n > limit {
			t.Errorf("%s = %v: %d bytes allocated for a %d-byte file", key, metaValue(kind, i, x), n, len(data))
		}
	})
}

// TestCloseFileDuringForward closes the file while forward passes run on
// another goroutine: they keep working until the model is closed.
func TestCloseFileDuringForward(t *testing.T) {
	f, m := loadMapped(t, synth.Options{Arch: "qwen2", Shape: "micro", Type: "Q4_0", Seed: 5}, 2)
	started := make(chan struct{}, 1)
	errc := make(chan error, 1)
	go func() {
		defer close(started) // also when the first pass fails
		var err error
		for i := range 20 {
			if i == 1 {
				started <- struct{}{}
			}
			if _, err = m.Forward(context.Background(), m.NewSequence(), []int32{1, 2, 3, 4}, model.OutputAll, nil); err != nil {
				break
			}
		}
		errc <- err
	}()
	<-started
	if err := f.Close(); err != nil {
		t.Error(err)
	}
	if err := <-errc; err != nil {
		t.Errorf("Forward after the file's Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Error(err)
	}
	if err := f.Acquire(); !errors.Is(err, gguf.ErrClosed) {
		t.Errorf("Acquire after both closed: %v", err)
	}
}
