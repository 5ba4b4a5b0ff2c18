// Package testruntime starts a real runtime on the tiny synthesized chat
// model, for tests that need a model server without the fixtures.
package testruntime

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/raym33/ainative/internal/api"
	"github.com/raym33/ainative/internal/runtime"
	"github.com/raym33/ainative/internal/store"
	"github.com/raym33/ainative/internal/testdata/testmodel"
)

// Tiny imports testmodel.ChatModel into a fresh store as "tiny" and
// starts a runtime on it (two threads, a context of numCtx tokens) that
// logs nowhere. It returns the runtime, the store and that logger; the
// runtime is closed when the test ends.
func Tiny(t testing.TB, numCtx int) (*runtime.Runtime, *store.Store, *slog.Logger) {
	t.Helper()
	dir := t.TempDir()
	model := testmodel.ChatModel(t, dir)
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Import(context.Background(), model, "tiny", nil); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err := runtime.New(runtime.Config{Source: api.StoreSource{Store: st}, Threads: 2, NumCtx: numCtx, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt, st, logger
}
