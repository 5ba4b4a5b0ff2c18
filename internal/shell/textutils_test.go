package shell

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestTextUtilities(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := 1; i <= 30; i++ {
		b.WriteString("line " + strings.Repeat("x", i%3) + " " + string(rune('a'+i%26)) + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		script, want string
		status       int
	}{
		{"head -n 2 f", "line x b\nline xx c\n", 0},
		{"head f | wc -l", "10 \n", 0},
		{"tail -n 2 f", "line xx d\nline  e\n", 0},
		{"tail -n 0 f", "", 0},
		{"tail -2 f", "line xx d\nline  e\n", 0},  // the obsolete form, still in everyday use
		{"head -2 f", "line x b\nline xx c\n", 0}, // likewise
		{"tail -2x f", "", 2},
		{"printf 'a b\\nc\\n' | wc", "      2       3       6 \n", 0},
		{"wc -c f", "270 f\n", 0},
		{"grep -c 'xx' f", "10\n", 0},
		{"grep -n ' e$' f", "4:line x e\n30:line  e\n", 0},
		{"grep -v line f", "", 1},
		{"grep -i LINE f | head -n 1", "line x b\n", 0},
		{"grep nomatch f", "", 1},
		{"grep '(' f", "", 2},
		{"head missing", "", 2},
	}
	for _, c := range cases {
		out, _, st := run(t, c.script, Options{Dir: dir})
		if out != c.want || st != c.status {
			t.Errorf("%s: got %q status %d, want %q status %d", c.script, out, st, c.want, c.status)
		}
	}
}

// tail keeps at most as many lines as the input has, whatever -n asks.
func TestTailMemoryFollowsInput(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("a\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, _, st := run(t, "tail -n 16777216 f", Options{Dir: dir})
	runtime.ReadMemStats(&after)
	if out != "a\nb\nc\n" || st != 0 {
		t.Errorf("got %q status %d", out, st)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
		t.Errorf("tail -n 16777216 of a 3-line file allocated %d MiB", n>>20)
	}
}
