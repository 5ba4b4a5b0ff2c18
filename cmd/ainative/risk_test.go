package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func runRisk(t *testing.T, args ...string) string {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"risk"}, args...))
	if err := root.Execute(); err != nil {
		t.Fatalf("risk %q: %v\n%s", args, err, out.String())
	}
	return out.String()
}

func TestRiskJSON(t *testing.T) {
	for cmd, want := range map[string]string{
		"rm -rf ~/code":   "high",
		"rm -rf ./dist":   "low",
		`echo "rm -rf /"`: "none",
	} {
		var got struct {
			Risk    string   `json:"risk"`
			Reasons []string `json:"reasons"`
		}
		out := runRisk(t, "--json", "--", cmd)
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%q: %v\n%s", cmd, err, out)
		}
		if got.Risk != want || got.Reasons == nil || (want == "none") != (len(got.Reasons) == 0) {
			t.Errorf("%q: %s", cmd, out)
		}
	}
}

func TestRiskText(t *testing.T) {
	// Several arguments are joined: risk -- rm -rf / is rm -rf /.
	out := runRisk(t, "--", "rm", "-rf", "/")
	if !strings.HasPrefix(out, "risk: high\n  - recursive deletion") {
		t.Errorf("got %q", out)
	}
}
