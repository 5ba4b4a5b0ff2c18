package gguf

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/tensor"
)

// writeSplit writes a model of three tensors as parts, the way gguf-split
// lays them out, and returns their paths.
func writeSplit(t *testing.T, dir string, parts int, edit func(i int, b *Builder)) []string {
	t.Helper()
	var paths []string
	for i := 0; i < parts; i++ {
		b := NewBuilder()
		if i == 0 {
			must(t, b.Set("general.architecture", "llama"))
			must(t, b.Set("split.tensors.count", int32(3)))
		}
		must(t, b.Set("split.no", uint16(i)))
		must(t, b.Set("split.count", uint16(parts)))
		for k := i; k < 3; k += parts {
			name := fmt.Sprint("t", k)
			must(t, b.AddTensor(name, tensor.F32, []uint64{2}, []byte(strings.Repeat(fmt.Sprint(k), 8))))
		}
		if edit != nil {
			edit(i, b)
		}
		p := filepath.Join(dir, fmt.Sprintf("m-%05d-of-%05d.gguf", i+1, parts))
		must(t, b.WriteFile(p))
		paths = append(paths, p)
	}
	return paths
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenSplit(t *testing.T) {
	paths := writeSplit(t, t.TempDir(), 2, nil)
	f, err := OpenSplit(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if arch, _ := f.Architecture(); arch != "llama" || len(f.Tensors) != 3 {
		t.Fatalf("arch %q, %d tensors", arch, len(f.Tensors))
	}
	for k := 0; k < 3; k++ {
		ti, ok := f.Tensor(fmt.Sprint("t", k))
		if !ok {
			t.Fatalf("tensor t%d missing", k)
		}
		if got := string(f.TensorData(ti)); got != strings.Repeat(fmt.Sprint(k), 8) {
			t.Errorf("t%d data %q", k, got)
		}
	}
	one, _ := Open(paths[0])
	two, _ := Open(paths[1])
	if f.Size() != one.Size()+two.Size() {
		t.Errorf("size %d", f.Size())
	}
	one.Close()
	two.Close()
}

func TestOpenSplitRefusesBadParts(t *testing.T) {
	dir := t.TempDir()
	paths := writeSplit(t, dir, 2, nil)
	if _, err := OpenSplit([]string{paths[1], paths[0]}); err == nil || !strings.Contains(err.Error(), "given as part 1") {
		t.Errorf("parts out of order: %v", err)
	}
	if _, err := OpenSplit(paths[:1]); err != nil {
		t.Errorf("one file opens as itself: %v", err)
	}
	three := writeSplit(t, t.TempDir(), 3, nil)
	if _, err := OpenSplit(three[:2]); err == nil || !strings.Contains(err.Error(), "of 3") {
		t.Errorf("a missing part: %v", err)
	}
	dup := writeSplit(t, t.TempDir(), 2, func(i int, b *Builder) {
		if i == 1 {
			must(t, b.AddTensor("t0", tensor.F32, []uint64{2}, make([]byte, 8)))
		}
	})
	if _, err := OpenSplit(dup); err == nil || !strings.Contains(err.Error(), "two parts") {
		t.Errorf("a tensor in two parts: %v", err)
	}
	count := writeSplit(t, t.TempDir(), 2, func(i int, b *Builder) {
		if i == 0 {
			must(t, b.Set("split.tensors.count", int32(5)))
		}
	})
	if _, err := OpenSplit(count); err == nil || !strings.Contains(err.Error(), "split.tensors.count") {
		t.Errorf("a wrong tensor count: %v", err)
	}
	if _, err := OpenSplit(nil); err == nil {
		t.Error("no files opened")
	}
}
