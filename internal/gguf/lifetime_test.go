package gguf

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAcquireOutlivesClose checks that a reference taken with Acquire
// keeps the mapping valid after Close, and that the last Release unmaps.
func TestAcquireOutlivesClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := sampleBuilder(t).WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	info := &f.Tensors[0]
	want := bytes.Clone(f.TensorData(info))
	if err := f.Acquire(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil { // a second Close drops nothing more
		t.Fatal(err)
	}
	if got := f.TensorData(info); !bytes.Equal(got, want) {
		t.Fatalf("tensor data after Close with a reference held: %v, want %v", got, want)
	}
	if f.Size() == 0 {
		t.Fatal("mapping gone while a reference is held")
	}
	if err := f.Release(); err != nil {
		t.Fatal(err)
	}
	if f.Size() != 0 {
		t.Errorf("mapping of %d bytes still there after the last Release", f.Size())
	}
	if err := f.Acquire(); !errors.Is(err, ErrClosed) {
		t.Errorf("Acquire after the last Release: %v, want ErrClosed", err)
	}
	if err := f.Release(); err == nil {
		t.Error("unmatched Release: no error")
	}
}

// TestReleaseBeforeClose checks the other order: the opener's reference
// keeps the mapping after a user releases its own.
func TestReleaseBeforeClose(t *testing.T) {
	f, err := Parse(encode(t, sampleBuilder(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Release(); err == nil {
		t.Error("Release without Acquire: no error")
	}
	if err := f.Acquire(); err != nil {
		t.Fatal(err)
	}
	if err := f.Release(); err != nil {
		t.Fatal(err)
	}
	if f.Size() == 0 {
		t.Fatal("Release dropped the opener's reference")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if f.Size() != 0 {
		t.Error("Close did not release the file")
	}
}

// TestOpenNotAModel checks the messages for paths that cannot hold a
// model: they say what the path is rather than "truncated?".
func TestOpenNotAModel(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.gguf")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, want string }{
		{empty, "0 bytes long, too short to be a GGUF file"},
		{dir, "is a directory"},
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		cases = append(cases, struct{ path, want string }{"/dev/zero", "/dev/zero is a character device, not a model file"})
	}
	for _, c := range cases {
		f, err := Open(c.path)
		if err == nil {
			f.Close()
			t.Errorf("%s: no error", c.path)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "truncated") {
			t.Errorf("%s: error %q, want %q", c.path, err, c.want)
		}
	}
}
