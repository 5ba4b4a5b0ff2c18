package testmodel

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model/synth"
)

// ChatModel writes dir/tiny.gguf, a synthesized tiny Q8_0 model (seed 3)
// carrying Qwen 2.5's chat template, and returns its path. Its weights are
// random, so its text is gibberish: it serves tests of protocols, streaming,
// constraints and errors without needing the fixtures.
func ChatModel(t testing.TB, dir string) string {
	t.Helper()
	m, err := synth.New(synth.Options{Shape: "tiny", Type: "Q8_0", Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(dir, "raw.gguf")
	if err := m.WriteFile(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(raw)
	tmpl, err := os.ReadFile(qwenTemplate(t))
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := f.Rebuild(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Set("tokenizer.chat_template", string(tmpl)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tiny.gguf")
	if err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// qwenTemplate locates internal/chat's copy of the template from this
// source file, so the helper works from any package's test directory.
func qwenTemplate(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testmodel: cannot locate its own source file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "chat", "testdata", "templates", "qwen2.5.jinja")
}
