package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/tokenizer"
)

// TestTokenizeCommand: every line is answered in order, a bad one with an
// error line, and the exit status says some lines failed.
func TestTokenizeCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if out, err := runCLI(t, "", "gguf", "synth", "--shape", "micro", "--type", "Q8_0", "--out", path); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	in := "\uFEFF" + `{"id":1,"text":"ab"}` + "\n" + `["a"]` + "\n" + `{"id":3,"text":"b"}` + "\n"
	out, err := runCLI(t, in, "tokenize", "--model", path)
	if !errors.Is(err, tokenizer.ErrBadLines) || !strings.Contains(err.Error(), "1 of 3 lines") {
		t.Errorf("error %v, want 1 bad line of 3", err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], `{"id":1,"text":"ab","ids":[`) ||
		lines[1] != `{"error":"line 2: want a JSON object, got an array"}` || !strings.HasPrefix(lines[2], `{"id":3,"text":"b","ids":[`) {
		t.Errorf("output:\n%s", out)
	}
	if out, err := runCLI(t, `{"text":"a"}`, "tokenize", "--model", path); err != nil || !strings.HasPrefix(out, `{"text":"a","ids":[`) {
		t.Errorf("good input: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "", "tokenize", "--model", path, "--max-line-bytes", "0"); err == nil || !strings.Contains(err.Error(), "--max-line-bytes 0: must be 1 or more") {
		t.Errorf("--max-line-bytes 0: %v", err)
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		_, err := runCLI(t, "", "tokenize", "--model", "/dev/zero")
		if err == nil || !strings.Contains(err.Error(), "character device, not a model file") {
			t.Errorf("/dev/zero as a model: %v", err)
		}
	}
}
