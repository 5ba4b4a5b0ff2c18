package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteBytes(path, 0o600, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(path, 0o640, []byte("two")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "two" {
		t.Fatalf("contents %q, %v", got, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode())
	}

	// A failing writer leaves the old contents and no temporary file.
	err = Write(path, 0o644, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return errors.New("boom")
	})
	if err == nil {
		t.Fatal("error not returned")
	}
	if got, _ := os.ReadFile(path); string(got) != "two" {
		t.Errorf("after a failed write: %q", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d entries left in the directory", len(entries))
	}
	if err := WriteBytes(filepath.Join(dir, "missing", "f"), 0o644, nil); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

// A symbolic link is written through: the link stays, its target gets
// the contents, and a dangling link's target is created.
func TestWriteThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("target", link); err != nil {
		t.Fatal(err)
	}
	chain := filepath.Join(dir, "chain")
	if err := os.Symlink(link, chain); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(chain, 0o644, []byte("new")); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{link, chain} {
		if fi, err := os.Lstat(l); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s is no longer a symbolic link: %v %v", l, fi.Mode(), err)
		}
	}
	if got, err := os.ReadFile(target); err != nil || string(got) != "new" {
		t.Errorf("target holds %q, %v; want the new contents", got, err)
	}

	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink("created", dangling); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(dangling, 0o644, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "created")); err != nil || string(got) != "x" {
		t.Errorf("dangling link's target holds %q, %v", got, err)
	}

	loop := filepath.Join(dir, "loop")
	if err := os.Symlink("loop", loop); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(loop, 0o644, nil); err == nil || !strings.Contains(err.Error(), "symbolic links") {
		t.Errorf("link loop: %v", err)
	}
}

func TestWriteDirectoryIsAnError(t *testing.T) {
	dir := t.TempDir()
	err := WriteBytes(dir, 0o644, []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("err = %v, want one saying it is a directory", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("%d entries left in the directory", len(entries))
	}
}

// A FIFO is written into, not replaced by a regular file.
func TestWriteFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// The reader end, opened first and non-blocking, so that nothing
	// waits for ever if the FIFO were replaced.
	r, err := os.OpenFile(fifo, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := WriteBytes(fifo, 0o644, []byte("through the pipe")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, _ := r.Read(buf)
	if s := string(buf[:n]); s != "through the pipe" {
		t.Errorf("reader got %q", s)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO became %v (%v)", fi.Mode(), err)
	}
}

// A character device is written directly: as root it stays a device,
// as another user the write does not need its directory to be writable,
// and a device that fails writes reports the failure.
func TestWriteDevice(t *testing.T) {
	device := func(name string, minor uint32) string {
		dev := "/dev/" + name
		if os.Geteuid() == 0 {
			// Never risk the real device as root: make a twin.
			dev = filepath.Join(t.TempDir(), name)
			if err := unix.Mknod(dev, unix.S_IFCHR|0o666, int(unix.Mkdev(1, minor))); err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("mknod under CI: %v", err)
				}
				t.Skipf("mknod: %v", err)
			}
		}
		return dev
	}
	null, full := device("null", 3), device("full", 7)
	if err := WriteBytes(null, 0o644, []byte("discarded")); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(full, 0o644, []byte("x")); err == nil {
		t.Errorf("write to %s succeeded", full)
	}
	for _, dev := range []string{null, full} {
		if fi, err := os.Lstat(dev); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
			t.Errorf("%s became %v (%v)", dev, fi.Mode(), err)
		}
	}
}

// "-" is standard output, not a file named "-".
func TestWriteStdout(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	err = WriteBytes("-", 0o644, []byte("to stdout"))
	os.Stdout = old
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	if string(b) != "to stdout" {
		t.Errorf("standard output got %q", b)
	}
	if _, err := os.Lstat(filepath.Join(dir, "-")); err == nil {
		t.Error(`a file named "-" was created`)
	}
}
