package shell

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/interp"
)

func TestShellBuiltinsList(t *testing.T) {
	for _, name := range shellBuiltins {
		if !interp.IsBuiltin(name) {
			t.Errorf("%s is not an interpreter built-in", name)
		}
	}
}

func TestHistoryFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hist")
	var lines []string
	for i := range 2*historyMax + 5 {
		lines = append(lines, fmt.Sprintf("cmd %d", i))
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := openHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if h.Len() != historyMax || h.At(0) != lines[len(lines)-1] || h.At(historyMax-1) != lines[len(lines)-historyMax] {
		t.Errorf("loaded %d lines, latest %q", h.Len(), h.At(0))
	}
	h.Add("new one")
	h.Add("new one") // a repeat
	h.Add(" secret") // leading space
	h.Add("   ")
	if h.Len() != historyMax || h.At(0) != "new one" || h.At(1) != lines[len(lines)-1] {
		t.Errorf("after Add: %d lines, latest %q, %q", h.Len(), h.At(0), h.At(1))
	}
	h.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Trimmed to historyMax when it had grown past twice that, then appended.
	got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(got) != historyMax+1 || got[len(got)-1] != "new one" {
		t.Errorf("file: %d lines, last %q", len(got), got[len(got)-1])
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode: %v %v", fi.Mode(), err)
	}

	// No file: a history in memory only.
	h, err = openHistory("")
	if err != nil || h.file != nil {
		t.Errorf("no file: %v", err)
	}
	// A file that cannot be written: an error to show, and memory only.
	h, err = openHistory(filepath.Join(t.TempDir(), "missing-dir", "hist"))
	if err == nil || h == nil || h.file != nil {
		t.Errorf("unwritable: %v", err)
	}
	h.Add("x")
	if h.Len() != 1 {
		t.Errorf("in-memory history lost the line")
	}
}

func TestHistoryPath(t *testing.T) {
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"HOME=/h"}, "/h/.ainative_history"},
		{[]string{"HOME=/h", "HISTFILE=/x/y"}, "/x/y"},
		{[]string{"HOME=/h", "HISTFILE="}, ""},
		{[]string{}, ""},
	} {
		s, err := New(Options{Env: c.env})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.historyPath(); got != c.want {
			t.Errorf("%q: %q, want %q", c.env, got, c.want)
		}
	}
}
