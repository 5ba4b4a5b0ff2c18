package model_test

import (
	"context"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/model"
)

// withKeys sets several metadata keys of a synthesized model.
func withKeys(t *testing.T, data []byte, kv ...any) []byte {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		data = withMeta(t, data, kv[i].(string), kv[i+1])
	}
	return data
}

// TestRopeScalingTypes loads one synthesized model with each scaling
// type: a factor changes the logits under linear and YaRN scaling (and
// the two differently), and changes nothing under type none or with a
// factor of 1.
func TestRopeScalingTypes(t *testing.T) {
	ctx := context.Background()
	base := synthesize(t, "llama", "micro", "F32") // trained context: 64
	tokens := []int32{3, 141, 59, 26, 53, 58, 97, 93}
	logits := func(data []byte) []float32 {
		t.Helper()
		m := load(t, data, model.Options{Threads: 1})
		out, err := m.Forward(ctx, m.NewSequence(), tokens, model.OutputAll, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	plain := logits(base)
	typ := func(name string, factor float32) []float32 {
		return logits(withKeys(t, base, "llama.rope.scaling.type", name, "llama.rope.scaling.factor", factor))
	}
	for _, c := range []struct {
		name   string
		factor float32
	}{{"none", 4}, {"linear", 1}, {"yarn", 1}} {
		if d := maxAbsDiff(plain, typ(c.name, c.factor)); d != 0 {
			t.Errorf("%s, factor %g: logits differ from unscaled by %g", c.name, c.factor, d)
		}
	}
	linear, yarn := typ("linear", 4), typ("yarn", 4)
	if maxAbsDiff(plain, linear) == 0 || maxAbsDiff(plain, yarn) == 0 || maxAbsDiff(linear, yarn) == 0 {
		t.Errorf("factor 4: linear and YaRN logits should differ from unscaled and from each other")
	}
	// YaRN's keys each matter.
	for _, kv := range [][]any{
		{"llama.rope.scaling.attn_factor", float32(0.8)},
		{"llama.rope.scaling.yarn_beta_fast", float32(2)},
		{"llama.rope.scaling.yarn_beta_slow", float32(0.25)},
		{"llama.rope.scaling.original_context_length", uint32(16)},
		{"llama.rope.scaling.yarn_log_multiplier", float32(0.1)},
	} {
		got := logits(withKeys(t, base, append([]any{"llama.rope.scaling.type", "yarn", "llama.rope.scaling.factor", float32(4)}, kv...)...))
		if maxAbsDiff(yarn, got) == 0 {
			t.Errorf("YaRN with %v: same logits as without", kv)
		}
	}
}

// TestRopeScalingContext: the context may go past the trained one up to
// the original context times the factor when YaRN (or linear scaling
// with its original context named) is configured, and no further; a
// sequence then runs past the trained context.
func TestRopeScalingContext(t *testing.T) {
	base := synthesize(t, "llama", "micro", "F32") // trained context: 64
	for _, c := range []struct {
		name string
		kv   []any
		want int
	}{
		{"unscaled", nil, 64},
		{"linear without original context", []any{"llama.rope.scaling.factor", float32(4)}, 64},
		{"linear", []any{"llama.rope.scaling.factor", float32(4), "llama.rope.scaling.original_context_length", uint32(64)}, 256},
		{"yarn", []any{"llama.rope.scaling.type", "yarn", "llama.rope.scaling.factor", float32(4)}, 256},
		{"yarn from 32", []any{"llama.rope.scaling.type", "yarn", "llama.rope.scaling.factor", float32(4), "llama.rope.scaling.original_context_length", uint32(32)}, 128},
		{"none", []any{"llama.rope.scaling.type", "none", "llama.rope.scaling.factor", float32(4)}, 64},
	} {
		data := withKeys(t, base, c.kv...)
		m := load(t, data, model.Options{Threads: 1, ContextLength: 1000})
		if got := m.ContextLength(); got != c.want {
			t.Errorf("%s: context %d, want %d", c.name, got, c.want)
		}
		if got := m.Config().MaxContext(); got != c.want {
			t.Errorf("%s: MaxContext %d, want %d", c.name, got, c.want)
		}
		if d := load(t, data, model.Options{Threads: 1}); d.ContextLength() != c.want {
			t.Errorf("%s: default context %d, want %d", c.name, d.ContextLength(), c.want)
		}
	}
	m := load(t, withKeys(t, base, "llama.rope.scaling.type", "yarn", "llama.rope.scaling.factor", float32(4)), model.Options{Threads: 1, ContextLength: 100})
	tokens := make([]int32, 90)
	for i := range tokens {
		tokens[i] = int32(i % 200)
	}
	if _, err := m.Forward(context.Background(), m.NewSequence(), tokens, model.OutputLast, nil); err != nil {
		t.Fatalf("90 tokens with YaRN x4 over a trained context of 64: %v", err)
	}
}

func TestRopeScalingErrors(t *testing.T) {
	base := synthesize(t, "llama", "micro", "F32")
	for _, c := range []struct {
		kv   []any
		want string
	}{
		{[]any{"llama.rope.scaling.type", "longrope2"}, `rope.scaling.type "longrope2" is not supported (none, linear, yarn, longrope)`},
		{[]any{"llama.rope.scaling.type", "dynamic"}, `"dynamic" is not supported`},
		{[]any{"llama.rope.scaling.type", "yarn", "llama.rope.scaling.factor", float32(4), "llama.rope.scaling.original_context_length", uint32(0)}, "original_context_length 0 must be positive"},
		{[]any{"llama.rope.scaling.factor", float32(-2)}, "must be positive"},
	} {
		_, err := model.Load(parse(t, withKeys(t, base, c.kv...)), model.Options{Threads: 1})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.kv, err, c.want)
		}
	}
}

// Options.RopeScaling replaces the file's scaling as llama.cpp's
// --rope-scaling/--rope-scale/--yarn-orig-ctx do: the same logits and
// context as a file that says the same.
func TestRopeScalingOverride(t *testing.T) {
	ctx := context.Background()
	base := synthesize(t, "llama", "micro", "F32") // trained context: 64
	tokens := []int32{3, 141, 59, 26, 53}
	run := func(data []byte, o *model.RopeScaling) ([]float32, int) {
		t.Helper()
		m := load(t, data, model.Options{Threads: 1, ContextLength: 1 << 20, RopeScaling: o})
		out, err := m.Forward(ctx, m.NewSequence(), tokens, model.OutputAll, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out, m.ContextLength()
	}
	fileYarn, fileCtx := run(withKeys(t, base, "llama.rope.scaling.type", "yarn", "llama.rope.scaling.factor", float32(4),
		"llama.rope.scaling.original_context_length", uint32(32)), nil)
	got, gotCtx := run(base, &model.RopeScaling{Type: "yarn", Factor: 4, OrigContext: 32})
	if maxAbsDiff(fileYarn, got) != 0 || gotCtx != fileCtx || gotCtx != 128 {
		t.Errorf("override: context %d (file: %d), logits differ by %g", gotCtx, fileCtx, maxAbsDiff(fileYarn, got))
	}
	// Type none over a file's YaRN gives the unscaled model.
	plain, plainCtx := run(base, nil)
	got, gotCtx = run(withKeys(t, base, "llama.rope.scaling.type", "yarn", "llama.rope.scaling.factor", float32(4)), &model.RopeScaling{Type: "none"})
	if maxAbsDiff(plain, got) != 0 || gotCtx != plainCtx {
		t.Errorf("type none over YaRN: context %d, logits differ by %g", gotCtx, maxAbsDiff(plain, got))
	}
	for _, c := range []struct {
		o    model.RopeScaling
		want string
	}{
		{model.RopeScaling{Type: "longrope"}, "longrope"},
		{model.RopeScaling{Type: "ntk"}, `"ntk" is not supported (none, linear, yarn)`},
		{model.RopeScaling{Type: "yarn", Factor: -1}, "factor -1"},
		{model.RopeScaling{Type: "yarn", OrigContext: -5}, "original context -5"},
	} {
		_, err := model.Load(parse(t, base), model.Options{Threads: 1, RopeScaling: &c.o})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error with %q", c.o, err, c.want)
		}
	}
}
