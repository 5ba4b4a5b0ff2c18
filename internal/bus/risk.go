package bus

import (
	"fmt"
	"path"
	"strings"

	busapi "github.com/raym33/ainative/client/bus"
	"mvdan.cc/sh/v3/syntax"
)

// commandRisk is the verdict on a command shown in run_command's consent
// request. It is the one place to switch to internal/risk.Classify once
// the shell's classifier lands; until then it walks the syntax tree for
// the commands and redirections that change or destroy things.
func commandRisk(command string) *busapi.Risk {
	f, err := syntax.NewParser().Parse(strings.NewReader(command), "")
	if err != nil {
		return &busapi.Risk{Level: "high", Reasons: []string{"does not parse: " + err.Error()}}
	}
	var reasons []string
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CallExpr:
			if len(n.Args) == 0 {
				break
			}
			lit := n.Args[0].Lit()
			name := path.Base(lit)
			if lit == "" {
				name = ""
			}
			switch name {
			case "rm", "rmdir", "dd", "mkfs", "shred", "truncate", "chmod", "chown", "mv", "kill", "killall",
				"reboot", "shutdown", "sudo", "su", "curl", "wget", "eval", "sh", "bash":
				reasons = append(reasons, fmt.Sprintf("runs %s", name))
			case "":
				reasons = append(reasons, "command name is computed at run time")
			}
		case *syntax.Redirect:
			if n.Op == syntax.RdrOut || n.Op == syntax.AppOut || n.Op == syntax.RdrAll || n.Op == syntax.AppAll || n.Op == syntax.ClbOut {
				reasons = append(reasons, "writes to "+wordText(n.Word))
			}
		}
		return true
	})
	if len(reasons) > 0 {
		return &busapi.Risk{Level: "high", Reasons: reasons}
	}
	return &busapi.Risk{Level: "low"}
}

func wordText(w *syntax.Word) string {
	if w == nil {
		return "?"
	}
	var b strings.Builder
	syntax.NewPrinter().Print(&b, w)
	return b.String()
}
