package bus

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestFormatConsent(t *testing.T) {
	r := ConsentRequest{ID: "ab12", Caller: Identity{UID: 1000, PID: 42, Exe: "/usr/bin/evil\x1b[2J"},
		Tool: "run_command", Effect: EffectDestructive,
		Arguments: json.RawMessage(`{"command":"rm -rf ~\u001b]0;x\u0007"}`),
		Risk:      &Risk{Level: "high", Reasons: []string{"recursive deletion of a home directory"}}}
	got := FormatConsent(r)
	for _, want := range []string{"uid 1000 pid 42 /usr/bin/evil\\x1b[2J", "run_command (destructive)",
		"command: rm -rf ~\\x1b]0;x\\a", "risk:   high (recursive deletion of a home directory)"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if strings.ContainsAny(got, "\x1b\x07") {
		t.Errorf("control characters reach the terminal: %q", got)
	}
	other := FormatConsent(ConsentRequest{Tool: "write_note", Effect: EffectWrite, Arguments: json.RawMessage(`{"text":"hi"}`)})
	if !strings.Contains(other, `args:   {"text":"hi"}`) || strings.Contains(other, "risk:") {
		t.Errorf("non-command request:\n%s", other)
	}
}

// FuzzFormatConsent: whatever another process puts in a request, what is
// shown carries no control character but the newlines of the layout.
func FuzzFormatConsent(f *testing.F) {
	f.Add("/usr/bin/app", "run_command", `{"command":"rm -rf ~"}`, "high", "deletes \x1b[2Jhome")
	f.Add("\x9b31m", "t\x00", `{"x":"\u0085"}`, "", "")
	f.Add("", "", `not json`, "low", "\r")
	f.Fuzz(func(t *testing.T, exe, tool, args, level, reason string) {
		r := ConsentRequest{Caller: Identity{Exe: exe}, Tool: tool, Arguments: json.RawMessage(args),
			Risk: &Risk{Level: level, Reasons: []string{reason}}}
		for _, c := range FormatConsent(r) {
			if c != '\n' && isControl(c) {
				t.Fatalf("control character %U shown: %q", c, FormatConsent(r))
			}
		}
	})
}
