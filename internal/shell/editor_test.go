package shell

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

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

func TestCompletePaths(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"my file.txt", "my-other", "ünï1", "ünï2", "$x", ".hidden"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Dir: dir, Env: []string{"HOME=" + dir}})
	if err != nil {
		t.Fatal(err)
	}
	var listed strings.Builder
	ed := &editor{s: s, hist: &history{}, out: &listed}
	for _, c := range []struct{ line, want string }{
		{"cat my", "cat my"},                // "my file.txt" and "my-other": listed
		{"cat my\\ ", "cat my\\ file.txt "}, // an escaped space is part of the word
		{"cat su", "cat sub\\ dir/"},        // a directory ends in /
		{"cat ün", "cat ünï"},               // common prefix in whole runes
		{"cat $", "cat \\$x "},              // specials escaped
		{"cat ~/my-", "cat ~/my-other "},    // the home directory
		{"cat .h", "cat .hidden "},          // dot files when asked for
		{"cat nothing", "cat nothing"},      // no candidate
		{"echo a; ./my-", "echo a; ./my-"},  // not executable: no command
	} {
		got, pos, ok := ed.complete(c.line, len(c.line))
		if !ok || got != c.want || pos != len(c.want) {
			t.Errorf("complete %q = %q, %d; want %q", c.line, got, pos, c.want)
		}
	}
	if !strings.Contains(listed.String(), "my file.txt  my-other\n") {
		t.Errorf("listed %q", listed.String())
	}
}

// FuzzEditorKeys: completion and search take whatever is on the line,
// wherever the cursor is, without panicking or producing invalid UTF-8
// from valid input.
func FuzzEditorKeys(f *testing.F) {
	for _, seed := range []string{"", "cat my\\ f", "ls ü", "a; b | c &", "\\", "ainative g", "~/x"} {
		f.Add(seed, 0)
		f.Add(seed, len(seed))
	}
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, "ünï"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "ünö"), nil, 0o644)
	s, err := New(Options{Dir: dir, Env: []string{"HOME=" + dir, "PATH=" + dir}, Subcommands: []string{"gguf", "generate"}})
	if err != nil {
		f.Fatal(err)
	}
	hist := &history{entries: []string{"echo ünï", "ls", "cat x"}}
	f.Fuzz(func(t *testing.T, line string, pos int) {
		if pos < 0 || pos > len(line) {
			return
		}
		ed := &editor{s: s, hist: hist, out: io.Discard}
		for _, key := range []rune{keyTab, keyCtrlR, keyCtrlR} {
			got, p, ok := ed.key(line, pos, key)
			if !ok || p < 0 || p > len(got) {
				t.Fatalf("key %d on %q at %d: %q, %d, %v", key, line, pos, got, p, ok)
			}
			if utf8.ValidString(line) && !utf8.ValidString(got) {
				t.Fatalf("key %d on %q: invalid UTF-8 %q", key, line, got)
			}
		}
	})
}
