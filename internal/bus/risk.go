package bus

import (
	busapi "github.com/raym33/ainative/client/bus"
	"github.com/raym33/ainative/internal/risk"
)

// commandRisk is the AI shell's syntax-tree verdict on a command, shown in
// run_command's consent request.
func commandRisk(command string) *busapi.Risk {
	v := risk.Classify(command)
	return &busapi.Risk{Level: v.Level.String(), Reasons: v.Reasons}
}
