package qemu_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/raym33/ainative/internal/initsys"
	"github.com/raym33/ainative/internal/qemu"
)

// TestVMBootTimes boots once with `vm --boot-times --json` and checks
// that every stage is there, in the order the boot goes through them.
// It checks no durations: those are measured, not tested.
func TestVMBootTimes(t *testing.T) {
	needQEMU(t)
	img := plainImageDir(t, ainative(t))
	out, errOut, st := vmCommand(t, nil, "--image", img, "--ephemeral", "--boot-times", "--json")
	if st != 0 {
		t.Fatalf("vm --boot-times: status %d, stderr %s", st, errOut)
	}
	var tl qemu.BootTimeline
	if err := json.Unmarshal([]byte(out), &tl); err != nil {
		t.Fatalf("vm --boot-times --json: %v\n%s", err, out)
	}
	if len(tl.Pending) != 0 || tl.Boots != 1 {
		t.Errorf("boots %d, stages never reached: %v", tl.Boots, tl.Pending)
	}
	var names []string
	for i, s := range tl.Steps {
		names = append(names, s.Name)
		if i > 0 && s.MS < tl.Steps[i-1].MS {
			t.Errorf("%s at %.0f ms comes before %s at %.0f ms", s.Name, s.MS, tl.Steps[i-1].Name, tl.Steps[i-1].MS)
		}
	}
	pos := func(name string) int {
		i := slices.Index(names, name)
		if i < 0 {
			t.Fatalf("no stage %s in %v", name, names)
		}
		return i
	}
	// What must precede what: the boot's own sequence, then the prompt
	// after its shell, and the services' readiness after their launch.
	for _, pair := range [][2]string{
		{qemu.StageQEMU, qemu.StageKernel}, {qemu.StageKernel, initsys.StageInit},
		{initsys.StageInit, initsys.StageMounts}, {initsys.StageMounts, initsys.StageModules},
		{initsys.StageModules, initsys.StageData}, {initsys.StageData, initsys.StageServices},
		{initsys.StageServices, initsys.StageConsole}, {initsys.StageConsole, qemu.StagePrompt},
		{initsys.StageServices, initsys.StageRuntime}, {initsys.StageServices, initsys.StageBus},
	} {
		if pos(pair[0]) > pos(pair[1]) {
			t.Errorf("%s after %s: %v", pair[0], pair[1], names)
		}
	}
	t.Logf("boot times under %s: %+v", tl.Accel, tl.Steps)
}
