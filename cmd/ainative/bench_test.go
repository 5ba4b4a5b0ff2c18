package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchParallel runs bench --parallel on a tiny synthesized model:
// one JSON object per count, with aggregate rates, and clear errors for
// bad counts and a context too small.
func TestBenchParallel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if out, err := runCLI(t, "", "gguf", "synth", "--shape", "tiny", "--type", "Q8_0", "--out", path); err != nil {
		t.Fatalf("synth: %v\n%s", err, out)
	}
	out, err := runCLI(t, "", "bench", "--model", path, "--parallel", "1,3", "-p", "5", "-n", "4", "-r", "1", "-t", "2", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	for _, want := range []int{1, 3} {
		var r struct {
			Parallel int       `json:"parallel"`
			TG       float64   `json:"tg_tok_s"`
			PP       float64   `json:"pp_tok_s"`
			TGAll    []float64 `json:"tg_all"`
		}
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("line for --parallel %d: %v\n%s", want, err, out)
		}
		if r.Parallel != want || !(r.TG > 0) || !(r.PP > 0) || len(r.TGAll) != 1 {
			t.Errorf("line for --parallel %d: %+v", want, r)
		}
	}
	if dec.More() {
		t.Errorf("more lines than counts:\n%s", out)
	}
	out, err = runCLI(t, "", "bench", "--model", path, "--parallel", "2", "-p", "3", "-n", "2", "-r", "1")
	if err != nil || !strings.Contains(out, "parallel   2:") || !strings.Contains(out, "tok/s") {
		t.Errorf("text output: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--parallel", "0"}, "--parallel 0: counts must be at least 1"},
		{[]string{"--parallel", "2", "--ctx", "8", "-p", "8", "-n", "4"}, "-p + -n = 12 exceeds the context length 8"},
		{[]string{"--parallel", "2", "-p", "-1"}, "must be 0 or more"},
	} {
		_, err := runCLI(t, "", append([]string{"bench", "--model", path, "-r", "1"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bench %v: got %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
