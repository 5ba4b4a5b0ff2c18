package risk

import (
	"slices"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"
)

func TestTable(t *testing.T) {
	if len(cases) < 250 {
		t.Fatalf("table has %d cases, want at least 250", len(cases))
	}
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.cmd] {
			t.Errorf("duplicate case %q", c.cmd)
		}
		seen[c.cmd] = true
		v := Classify(c.cmd)
		if v.Level != c.want {
			t.Errorf("Classify(%q) = %s %q, want %s", c.cmd, v.Level, v.Reasons, c.want)
		}
		if (v.Level == None) != (len(v.Reasons) == 0) {
			t.Errorf("Classify(%q): level %s with reasons %q", c.cmd, v.Level, v.Reasons)
		}
	}
}

func TestSession(t *testing.T) {
	c := Classifier{
		Aliases: map[string]string{
			"nuke":  "rm -rf",
			"ll":    "ls -l",
			"loop":  "loop", // an alias naming itself must not recurse forever
			"clean": "cd / && rm -rf *",
		},
		Functions: map[string]string{
			"wipe":    `rm -rf "$1"`,
			"deploy":  "git push --force origin main",
			"greet":   "echo hi",
			"recurse": "recurse",
		},
	}
	for _, tc := range []struct {
		cmd  string
		want Level
	}{
		{"nuke ~", High},
		{"nuke ./dist", Low},
		{"sudo nuke /", High},
		{"ll", None},
		{"loop", None},
		{"clean", Low},
		{"wipe build", High}, // the body's target is an argument: unknowable
		{"deploy", High},
		{"greet", None},
		{"recurse", None},
		{"\\ll", None},
	} {
		if v := c.Classify(tc.cmd); v.Level != tc.want {
			t.Errorf("Classify(%q) = %s %q, want %s", tc.cmd, v.Level, v.Reasons, tc.want)
		}
	}
	// The same commands in a fresh session run the real programs.
	if v := Classify("nuke ~"); v.Level != None {
		t.Errorf("fresh session: nuke ~ = %s", v.Level)
	}
}

func TestReasons(t *testing.T) {
	v := Classify("sudo rm -rf ~/code")
	if v.Level != High || len(v.Reasons) != 2 {
		t.Fatalf("got %s %q", v.Level, v.Reasons)
	}
	if !strings.Contains(v.Reasons[0], "~/code") {
		t.Errorf("the high reason comes first and names the target: %q", v.Reasons)
	}
	if v.Reasons[1] != "it runs as root (sudo)" {
		t.Errorf("second reason %q", v.Reasons[1])
	}
}

func TestBadInput(t *testing.T) {
	for _, cmd := range []string{"rm -rf (", "if then fi", "echo 'unterminated"} {
		v := Classify(cmd)
		if v.Level != Low || !strings.HasPrefix(v.Reasons[0], "does not parse") {
			t.Errorf("Classify(%q) = %s %q, want low: does not parse", cmd, v.Level, v.Reasons)
		}
	}
	if v := Classify(strings.Repeat("a", maxInput+1)); v.Level != Low {
		t.Errorf("oversized input: %s", v.Level)
	}
	deep := strings.Repeat("eval ", 40) + "rm -rf /"
	if v := Classify(deep); v.Level == None || !slices.Contains(v.Reasons, "nested too deeply to classify") {
		t.Errorf("deep nesting: %s %q", v.Level, v.Reasons)
	}
	// Long pipelines and function bodies are judged in linear time (a
	// quadratic walk would not finish here).
	if v := Classify(strings.Repeat("a|", 30000) + "a"); v.Level != None {
		t.Errorf("long pipeline: %s", v.Level)
	}
	if v := Classify("f(){ " + strings.Repeat("f|", 30000) + "f; }"); v.Level != High {
		t.Errorf("long fork bomb: %s", v.Level)
	}
	// A wrapper that runs a string, as a pipeline stage after a download.
	if v := Classify("curl x | env -S 'a | b'"); v.Level == High {
		t.Errorf("curl | env -S: %s %q", v.Level, v.Reasons)
	}
	q := "rm -rf /"
	for i := 0; i < 5; i++ {
		q, _ = syntaxQuote(q)
		q = "bash -c " + q
	}
	if v := Classify(q); v.Level != High {
		t.Errorf("%s: %s %q", q, v.Level, v.Reasons)
	}
}

func TestLevelString(t *testing.T) {
	for l, s := range map[Level]string{None: "none", Low: "low", High: "high", Level(7): "level(7)"} {
		if l.String() != s {
			t.Errorf("%d.String() = %q, want %q", int(l), l.String(), s)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, c := range cases {
		f.Add(c.cmd)
	}
	f.Add("eval eval eval 'rm -rf /'")
	f.Add("x() { x|x& }; x")
	f.Fuzz(func(t *testing.T, cmd string) {
		v := Classify(cmd)
		if v.Level < None || v.Level > High {
			t.Fatalf("level %d out of range", v.Level)
		}
		if (v.Level == None) != (len(v.Reasons) == 0) {
			t.Fatalf("level %s with reasons %q", v.Level, v.Reasons)
		}
	})
}

func syntaxQuote(s string) (string, error) { return syntax.Quote(s, syntax.LangBash) }
