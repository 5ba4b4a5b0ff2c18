package store

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestImportTwiceStoredOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, nil)
	dir := t.TempDir()
	data := synthGGUF(t, "tiny", 64)
	file := writeFile(t, dir, "tiny.gguf", data)
	for _, name := range []string{"tiny", "team/tiny:v1", "tiny"} {
		if _, err := s.Import(ctx, file, name, nil); err != nil {
			t.Fatalf("import as %s: %v", name, err)
		}
	}
	if n := blobCount(t, s); n != 1 {
		t.Errorf("%d blobs after importing one file three times, want 1", n)
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "team/tiny:v1" || list[1].Name != "tiny:latest" {
		t.Fatalf("list = %+v", list)
	}
	if list[0].Size != int64(len(data)) || list[0].Digests[0] != digestOf(data) {
		t.Errorf("entry %+v, want size %d digest %s", list[0], len(data), digestOf(data))
	}
	m, err := s.Resolve(ctx, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(m.Paths[0])
	if err != nil || string(got) != string(data) {
		t.Errorf("resolved blob differs from the imported file (%v)", err)
	}
	// Only files: temporary copies are gone.
	if entries, _ := os.ReadDir(s.Dir() + "/tmp"); len(entries) > 1 { // store.lock
		t.Errorf("tmp/ keeps %d entries", len(entries))
	}
}

func TestImportRefusesNonGGUF(t *testing.T) {
	s := newStore(t, nil)
	file := writeFile(t, t.TempDir(), "x.gguf", []byte("GGUF but not really a model file"))
	_, err := s.Import(context.Background(), file, "x", nil)
	if err == nil || !strings.Contains(err.Error(), "not a GGUF model") {
		t.Fatalf("import of a bad file: %v", err)
	}
	if blobCount(t, s) != 0 {
		t.Error("a blob was stored")
	}
	if _, err := s.Import(context.Background(), file, "bad name!", nil); err == nil {
		t.Error("a bad name was accepted")
	}
}

func TestImportSplit(t *testing.T) {
	s := newStore(t, nil)
	dir := t.TempDir()
	var parts [][]byte
	for i := 1; i <= 3; i++ {
		parts = append(parts, synthGGUF(t, "part"+string(rune('0'+i)), 16, "split.no", uint16(i-1), "split.count", uint16(3)))
		writeFile(t, dir, "m-0000"+string(rune('0'+i))+"-of-00003.gguf", parts[i-1])
	}
	if _, err := s.Import(context.Background(), dir+"/m-00002-of-00003.gguf", "m", nil); err == nil || !strings.Contains(err.Error(), "part 1") {
		t.Errorf("import of part 2: %v", err)
	}
	if _, err := s.Import(context.Background(), dir+"/m-00001-of-00003.gguf", "m", nil); err != nil {
		t.Fatal(err)
	}
	m, err := s.Resolve(context.Background(), "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Paths) != 3 {
		t.Fatalf("%d paths", len(m.Paths))
	}
	for i, l := range m.Manifest.Layers {
		if l.Digest != digestOf(parts[i]) {
			t.Errorf("layer %d is not part %d", i, i+1)
		}
	}
	info, err := s.Show(context.Background(), "m")
	if err != nil {
		t.Fatal(err)
	}
	if info.Tensors != 3 {
		t.Errorf("show counts %d tensors over the parts, want 3", info.Tensors)
	}
}

func TestCopyRemove(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, nil)
	dir := t.TempDir()
	a := synthGGUF(t, "a", 32)
	b := synthGGUF(t, "b", 32)
	if _, err := s.Import(ctx, writeFile(t, dir, "a.gguf", a), "a", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, writeFile(t, dir, "b.gguf", b), "b", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Copy(ctx, "a", "ns/a-copy:x"); err != nil {
		t.Fatal(err)
	}
	if err := s.Copy(ctx, "missing", "y"); !errors.Is(err, ErrNotFound) {
		t.Errorf("copy of a missing model: %v", err)
	}
	freed, err := s.Remove(ctx, "a")
	if err != nil || freed != 0 {
		t.Errorf("removing a, still named by its copy: freed %d, %v", freed, err)
	}
	if _, err := s.Resolve(ctx, "ns/a-copy:x"); err != nil {
		t.Errorf("the copy lost its blob: %v", err)
	}
	freed, err = s.Remove(ctx, "ns/a-copy:x")
	if err != nil || freed != int64(len(a)) {
		t.Errorf("removing the last name of a: freed %d, %v; want %d", freed, err, len(a))
	}
	if blobCount(t, s) != 1 {
		t.Errorf("%d blobs left, want b's", blobCount(t, s))
	}
	if _, err := os.Stat(s.Dir() + "/manifests/local/ns"); !os.IsNotExist(err) {
		t.Errorf("empty manifest directories left behind: %v", err)
	}
	_, err = s.Remove(ctx, "a")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "ainative list") {
		t.Errorf("removing a missing model: %v", err)
	}
}

func TestPruneWaitsForWriters(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, nil)
	if _, err := s.Import(ctx, writeFile(t, t.TempDir(), "a.gguf", synthGGUF(t, "a", 8)), "a", nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.manifestFile(MustParseName("a"))); err != nil {
		t.Fatal(err)
	}
	// Another store handle (as another process would) holds the store for
	// a pull: its blob, not yet named, must survive.
	other, err := Open(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := other.lockShared(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if freed, err := s.Prune(ctx); err != nil || freed != 0 || blobCount(t, s) != 1 {
		t.Errorf("prune during a pull: freed %d, %v", freed, err)
	}
	unlock()
	if freed, err := s.Prune(ctx); err != nil || freed == 0 || blobCount(t, s) != 0 {
		t.Errorf("prune afterwards: freed %d, %v", freed, err)
	}
}

func TestShow(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, nil)
	if _, err := s.Import(ctx, writeFile(t, t.TempDir(), "a.gguf", synthGGUF(t, "a", 8, "general.license.link", "https://x/LICENSE")), "a", nil); err != nil {
		t.Fatal(err)
	}
	info, err := s.Show(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if info.Architecture != "llama" || info.ModelName != "a" || info.FileType != "Q4_K_M" || info.Parameters != 8 ||
		info.ContextLength != 2048 || info.EmbeddingLength != 64 || info.License != "apache-2.0 https://x/LICENSE" ||
		!strings.Contains(info.ChatTemplate, "messages") || info.Sampling["temp"] != float32(0.7) {
		t.Errorf("show: %+v", info)
	}
	if _, err := s.Show(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("show of a missing model: %v", err)
	}
}

func TestCorruptBlobRefused(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, nil)
	data := synthGGUF(t, "a", 64)
	if _, err := s.Import(ctx, writeFile(t, t.TempDir(), "a.gguf", data), "a", nil); err != nil {
		t.Fatal(err)
	}
	blob := s.blobPath(digestOf(data))

	// Damaged in place: Verify hashes and finds it.
	f, err := os.OpenFile(blob, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xff, 0xfe}, int64(len(data)-2))
	f.Close()
	if err := s.Verify(ctx, "a"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("verify of a damaged blob: %v", err)
	}
	if _, err := os.Stat(blob); !os.IsNotExist(err) {
		t.Error("the corrupt blob was kept")
	}
	if _, err := s.Resolve(ctx, "a"); err == nil {
		t.Error("resolve served a model whose blob is gone")
	}

	// Replaced by another file: Resolve notices without being asked.
	if _, err := s.Import(ctx, writeFile(t, t.TempDir(), "a.gguf", data), "a", nil); err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 1
	writeFile(t, s.Dir()+"/blobs", "x", bad)
	if err := os.Rename(s.Dir()+"/blobs/x", blob); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, "a"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("resolve of a replaced blob: %v", err)
	}
	// Truncated: the size alone gives it away.
	if _, err := s.Import(ctx, writeFile(t, t.TempDir(), "a.gguf", data), "a", nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(blob, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, "a"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("resolve of a truncated blob: %v", err)
	}
}
