package model_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model"
)

// TestTruncatedWhileMapped truncates a model file while it is loaded
// and mapped: the next pass reads weights past the end of the file,
// which is SIGBUS; it must be an error of that pass, for every thread
// count (the fault may happen on the caller or on a pool worker), and the
// process goes on.
func TestTruncatedWhileMapped(t *testing.T) {
	data := tiny(t, "llama", "Q8_0")
	for _, threads := range []int{1, 3} {
		path := filepath.Join(t.TempDir(), "m.gguf")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := gguf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := model.Load(f, model.Options{ContextLength: 32, Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		c, err := m.NewCache(model.CacheOptions{MaxSeqs: 2})
		if err != nil {
			t.Fatal(err)
		}
		var b model.Batch
		b.Add(1, 0, 0, true)
		b.Add(2, 0, 1, true)
		if _, err := m.Decode(context.Background(), c, &b, nil); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, 4096); err != nil {
			t.Fatal(err)
		}
		b.Reset()
		b.Add(3, 1, 0, true)
		_, err = m.Decode(context.Background(), c, &b, nil)
		if err == nil || !strings.Contains(err.Error(), "memory fault") || !strings.Contains(err.Error(), "truncated or overwritten") {
			t.Fatalf("%d threads: Decode over a truncated file: %v", threads, err)
		}
		if c.SeqLen(0) != 1 {
			t.Errorf("the failed pass left sequence 0 at %d positions, want 1", c.SeqLen(0))
		}
		// The model is still usable for what does not fault: the
		// error repeats rather than crashing.
		if _, err := m.Forward(context.Background(), m.NewSequence(), []int32{1}, model.OutputLast, nil); err == nil {
			t.Error("Forward over a truncated file succeeded")
		}
	}
}
