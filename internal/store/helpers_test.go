package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/store/hub"
	"github.com/raym33/ainative/internal/store/hub/hubtest"
	"github.com/raym33/ainative/internal/tensor"
)

// synthGGUF builds a small GGUF whose contents depend on name, with n
// float32 weights (4n bytes of tensor data). extra sets more metadata.
func synthGGUF(t testing.TB, name string, n int, extra ...any) []byte {
	t.Helper()
	b := gguf.NewBuilder()
	kv := []any{
		"general.architecture", "llama",
		"general.name", name,
		"general.file_type", uint32(15),
		"general.license", "apache-2.0",
		"general.parameter_count", uint64(n),
		"llama.context_length", uint32(2048),
		"llama.embedding_length", uint32(64),
		"tokenizer.chat_template", "{% for m in messages %}{{ m.content }}{% endfor %}",
		"general.sampling.temp", float32(0.7),
	}
	kv = append(kv, extra...)
	for i := 0; i < len(kv); i += 2 {
		if err := b.Set(kv[i].(string), kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	seed := sha256.Sum256([]byte(name))
	rng := rand.New(rand.NewChaCha8(seed))
	data := make([]byte, 4*n)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := b.AddTensor("w."+name, tensor.F32, []uint64{uint64(n)}, data); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// newStore opens a store in a temporary directory, talking to srv.
func newStore(t testing.TB, srv *hubtest.Server) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "models"))
	if err != nil {
		t.Fatal(err)
	}
	if srv != nil {
		s.Hub = &hub.Client{Endpoint: srv.URL, HTTP: srv.Client()}
	}
	s.Memory = func(context.Context) int64 { return 1 << 30 }
	s.Log = slog.New(slog.DiscardHandler)
	return s
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func blobCount(t testing.TB, s *Store) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.Dir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
