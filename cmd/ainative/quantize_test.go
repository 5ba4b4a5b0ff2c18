package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/tensor"
	"github.com/raym33/ainative/internal/testdata"
)

// TestQuantizeCommand quantizes a synthesized F16 mixture of experts to
// Q4_K_M and checks the result's types, the --json summary, and the
// refusals of types it cannot make.
func TestQuantizeCommand(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.gguf"), filepath.Join(dir, "out.gguf")
	if o, err := runCLI(t, "", "gguf", "synth", "--shape", "qwen3moe-tiny", "--type", "F16", "--out", in); err != nil {
		t.Fatalf("%v: %s", err, o)
	}
	o, err := runCLI(t, "", "quantize", in, out, "q4_k_m", "--json", "-t", "2")
	if err != nil {
		t.Fatalf("%v: %s", err, o)
	}
	var r struct {
		Type      string `json:"type"`
		Tensors   int    `json:"tensors"`
		Quantized int    `json:"quantized"`
		OutBytes  int64  `json:"out_bytes"`
	}
	if err := json.Unmarshal([]byte(o), &r); err != nil {
		t.Fatalf("%v: %q", err, o)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if r.Type != "Q4_K_M" || r.Tensors != len(f.Tensors) || r.Quantized == 0 {
		t.Errorf("summary %+v for %d tensors", r, len(f.Tensors))
	}
	for name, want := range map[string]tensor.Type{
		"token_embd.weight":          tensor.Q6_K, // tied: the output
		"blk.0.attn_q.weight":        tensor.Q4_K,
		"blk.0.attn_k.weight":        tensor.Q8_0, // 8 experts
		"blk.0.attn_output.weight":   tensor.Q5_K,
		"blk.0.ffn_gate_inp.weight":  tensor.F32, // routers are never quantized
		"blk.0.ffn_up_exps.weight":   tensor.Q4_K,
		"blk.1.ffn_down_exps.weight": tensor.Q6_K,
		"blk.0.attn_norm.weight":     tensor.F32,
	} {
		if ti, ok := f.Tensor(name); !ok || ti.Type != want {
			t.Errorf("%s: %v, want %s", name, ti, want)
		}
	}
	if ft, err := f.Uint("general.file_type"); err != nil || ft != 15 {
		t.Errorf("general.file_type %d (%v), want 15", ft, err)
	}
	for _, typ := range []string{"IQ2_XXS", "IQ3_XS", "NOPE"} {
		bad := filepath.Join(dir, typ+".gguf")
		o, err := runCLI(t, "", "quantize", in, bad, typ)
		if err == nil || !strings.Contains(err.Error(), "supported:") {
			t.Errorf("%s: error %v (%s)", typ, err, o)
		}
		if _, err := os.Stat(bad); err == nil {
			t.Errorf("%s: refused, but wrote %s", typ, bad)
		}
	}
}

// TestQuantizeIQ3Command makes the IQ3 file types both ways: quantize a
// synthesized F16 model to IQ3_S, and synthesize IQ3_M directly (the IQ3
// quantizers take a second or two for the tiny shape, more under -race).
func TestQuantizeIQ3Command(t *testing.T) {
	testdata.UnderRace(t, "iq3")
	dir := t.TempDir()
	in, out, m := filepath.Join(dir, "in.gguf"), filepath.Join(dir, "out.gguf"), filepath.Join(dir, "m.gguf")
	if o, err := runCLI(t, "", "gguf", "synth", "--shape", "tiny", "--type", "F16", "--out", in); err != nil {
		t.Fatalf("%v: %s", err, o)
	}
	if o, err := runCLI(t, "", "quantize", in, out, "iq3_s", "-t", "4"); err != nil {
		t.Fatalf("%v: %s", err, o)
	}
	if o, err := runCLI(t, "", "gguf", "synth", "--shape", "tiny", "--type", "IQ3_M", "--out", m); err != nil {
		t.Fatalf("%v: %s", err, o)
	}
	for _, c := range []struct {
		path  string
		ftype uint64
		types map[string]tensor.Type
	}{
		{out, 26, map[string]tensor.Type{
			"token_embd.weight":     tensor.IQ3_S,
			"output.weight":         tensor.Q6_K,
			"blk.0.attn_v.weight":   tensor.IQ3_S, // 2 query heads per KV head
			"blk.1.ffn_down.weight": tensor.IQ3_S,
		}},
		{m, 27, map[string]tensor.Type{
			"blk.0.attn_q.weight":      tensor.IQ3_S,
			"blk.0.attn_v.weight":      tensor.Q4_K,
			"blk.0.attn_output.weight": tensor.Q4_K,
			"output.weight":            tensor.Q6_K,
		}},
	} {
		f, err := gguf.Open(c.path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for name, want := range c.types {
			if ti, ok := f.Tensor(name); !ok || ti.Type != want {
				t.Errorf("%s: %s: %v, want %s", filepath.Base(c.path), name, ti, want)
			}
		}
		if ft, err := f.Uint("general.file_type"); err != nil || ft != c.ftype {
			t.Errorf("%s: general.file_type %d (%v), want %d", filepath.Base(c.path), ft, err, c.ftype)
		}
	}
}
