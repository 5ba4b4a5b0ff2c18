package bus

import (
	"encoding/json"
	"fmt"
	"strings"
)

// FormatConsent renders a consent request for a person in a terminal:
// who asks (uid, pid, executable), what (tool, effect, arguments, and the
// command itself for run_command) and the risk verdict with its reasons.
// Every field is another process's text, so control characters are shown
// escaped: a request cannot drive the terminal it is shown on.
func FormatConsent(r ConsentRequest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nconsent request %s\n  caller: uid %d pid %d %s\n  tool:   %s (%s)\n",
		safe(r.ID), r.Caller.UID, r.Caller.PID, safe(r.Caller.Exe), safe(r.Tool), safe(r.Effect))
	var a struct {
		Command string `json:"command"`
	}
	if json.Unmarshal(r.Arguments, &a) == nil && a.Command != "" {
		fmt.Fprintf(&b, "  command: %s\n", safe(a.Command))
	} else if len(r.Arguments) > 0 {
		fmt.Fprintf(&b, "  args:   %s\n", safe(string(r.Arguments)))
	}
	if r.Risk != nil {
		fmt.Fprintf(&b, "  risk:   %s", safe(r.Risk.Level))
		if len(r.Risk.Reasons) > 0 {
			reasons := make([]string, len(r.Risk.Reasons))
			for i, s := range r.Risk.Reasons {
				reasons[i] = safe(s)
			}
			fmt.Fprintf(&b, " (%s)", strings.Join(reasons, "; "))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// safe escapes control characters (C0, DEL, C1) as Go does in quoted
// strings, leaving the rest of the text as it is.
func safe(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			q := fmt.Sprintf("%q", string(r))
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }
