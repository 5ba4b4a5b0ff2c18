package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/tensor"
	"github.com/raym33/ainative/internal/testdata"
)

// runCLI runs the ainative command line in-process and returns its output.
func runCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestGGUFCommand(t *testing.T) {
	path := testdata.Path(t, "models", "llama-Q4_K_M.gguf")
	out, err := runCLI(t, "", "gguf", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"general.architecture", `"llama"`, "[string x 512]", "blk.1.ffn_down.weight", "Q6_K"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, err = runCLI(t, "", "gguf", "--json", path)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Version  int `json:"version"`
		Metadata []struct {
			Key    string `json:"key"`
			Length *int   `json:"length"`
		} `json:"metadata"`
		Tensors []struct {
			Name  string   `json:"name"`
			Type  string   `json:"type"`
			Shape []uint64 `json:"shape"`
			Bytes int64    `json:"bytes"`
		} `json:"tensors"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if got.Version != 3 || len(got.Tensors) != 22 {
		t.Fatalf("version %d, %d tensors", got.Version, len(got.Tensors))
	}
	if tt := got.Tensors[0]; tt.Name != "output.weight" || tt.Type != "Q6_K" || tt.Bytes != 107520 {
		t.Errorf("first tensor %+v", tt)
	}
	for _, m := range got.Metadata {
		if m.Key == "tokenizer.ggml.tokens" && (m.Length == nil || *m.Length != 512) {
			t.Errorf("tokens array length %v", m.Length)
		}
	}

	if _, err := runCLI(t, "", "gguf", "/nonexistent.gguf"); err == nil {
		t.Error("missing file: no error")
	}
}

// TestGGUFCommandQuotesNames: keys and tensor names come from the file;
// control characters in them must not reach the terminal or break the
// table.
func TestGGUFCommandQuotesNames(t *testing.T) {
	b := gguf.NewBuilder()
	if err := b.Set("evil\x1b[2J", "v"); err != nil {
		t.Fatal(err)
	}
	if err := b.Set("bad\x9bbyte", "v"); err != nil {
		t.Fatal(err)
	}
	if err := b.AddTensor("t\tx", tensor.F32, []uint64{1}, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "", "gguf", path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out, "\x1b\t\x9b") {
		t.Errorf("raw control characters in the output:\n%q", out)
	}
	for _, want := range []string{`"evil\x1b[2J"`, `"bad\x9bbyte"`, `"t\tx"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}
