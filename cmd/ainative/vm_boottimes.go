package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/raym33/ainative/internal/initsys"
	"github.com/raym33/ainative/internal/qemu"
)

// bootStageWhat says what each stage of `vm --boot-times` is the end of.
var bootStageWhat = map[string]string{
	qemu.StageQEMU:        "QEMU started",
	qemu.StageKernel:      "firmware, kernel loaded and decompressed (the guest clock starts)",
	initsys.StageInit:     "kernel booted, initramfs unpacked, PID 1 runs",
	initsys.StageMounts:   "/proc, /sys, /dev, /run, /tmp mounted",
	initsys.StageModules:  "kernel modules loaded",
	initsys.StageData:     "models and data disks mounted",
	initsys.StageServices: "services launched",
	initsys.StageConsole:  "console shell running",
	qemu.StagePrompt:      "shell prompt on the serial console",
	initsys.StageRuntime:  "runtime answers /health",
	initsys.StageBus:      "bus accepts connections",
}

// runVMBootTimes boots cfg boots times, each to its shell prompt and its
// services ready, then powers it off, and prints where the time went
// (the median of the boots) as a table or, with asJSON, a
// qemu.BootTimeline.
func runVMBootTimes(ctx context.Context, cfg *qemu.Config, boots int, timeout time.Duration, asJSON, showConsole bool) error {
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	var console io.Writer
	if showConsole {
		console = os.Stderr
	}
	var tls []qemu.BootTimeline
	for i := range boots {
		if boots > 1 {
			fmt.Fprintf(os.Stderr, "ainative vm: boot %d of %d\n", i+1, boots)
		}
		tl, err := qemu.MeasureBoot(ctx, cfg, console, timeout)
		if err != nil {
			return &vmError{qemu.ExitGuestFailure, fmt.Sprintf("vm --boot-times: boot %d: %v", i+1, err)}
		}
		tls = append(tls, tl)
	}
	tl := qemu.MedianTimeline(tls)
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(tl)
	}
	what := "one boot"
	if tl.Boots > 1 {
		what = fmt.Sprintf("median of %d boots", tl.Boots)
	}
	fmt.Printf("boot times under %s, %s:\n", tl.Accel, what)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "stage\tms since QEMU start\tstep ms\t\n")
	for _, s := range tl.Steps {
		fmt.Fprintf(w, "%s\t%.0f\t%.0f\t  %s\n", s.Name, s.MS, s.Step, bootStageWhat[s.Name])
	}
	w.Flush()
	if len(tl.Pending) > 0 {
		fmt.Printf("never reached: %v\n", tl.Pending)
	}
	return nil
}
