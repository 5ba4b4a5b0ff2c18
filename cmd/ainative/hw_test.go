package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/hw"
	"github.com/raym33/ainative/internal/hw/hwtest"
)

// runHW runs `ainative hw args...` through the root command and returns
// what it printed.
func runHW(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"hw"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestHWJSONMatchesProc(t *testing.T) {
	out, err := runHW(t, "--json", "--no-bandwidth")
	if err != nil {
		t.Fatal(err)
	}
	var info hw.Info
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&info); err != nil {
		t.Fatalf("output is not one hw.Info: %v\n%s", err, out)
	}
	if dec.More() {
		t.Errorf("more than one JSON value:\n%s", out)
	}
	hwtest.CheckAgainstProc(t, &info)
	if len(info.Bandwidth) != 0 {
		t.Errorf("--no-bandwidth measured anyway: %+v", info.Bandwidth)
	}
}

func TestHWText(t *testing.T) {
	out, err := runHW(t, "--threads", "1", "--bandwidth-mib", "8")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CPU\n", "Features\n", "Cores\n", "Caches\n", "Memory\n", "NUMA\n", "Bandwidth\n", "Accelerators\n",
		"  read, 1 thread ", " GB/s (median of 9 passes over 8 MiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "2 threads") {
		t.Errorf("measured more than --threads 1:\n%s", out)
	}
}

func TestHWBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--threads", "-1"}, "--threads -1"},
		{[]string{"--threads", "100000"}, "--threads 100000: must be between 0 (the default) and 1024"},
		{[]string{"--threads", "1024"}, "GOMAXPROCS"},
		{[]string{"--bandwidth-mib", "0"}, "--bandwidth-mib 0"},
		{[]string{"extra"}, "unknown command"},
	} {
		_, err := runHW(t, append([]string{"--json"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("hw %q: error %v, want one about %q", tc.args, err, tc.want)
		}
	}
}
