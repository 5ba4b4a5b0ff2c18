package initsys

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The boot stages PID 1 records, in the order a normal boot reaches them.
// Each is the moment the stage ended.
const (
	StageInit     = "init"     // PID 1 runs: the kernel booted and unpacked the initramfs
	StageMounts   = "mounts"   // /proc, /sys, /dev and the tmpfs mounts are there
	StageModules  = "modules"  // the image's kernel modules are loaded (none with the default kernel)
	StageData     = "data"     // the models and data disks are mounted, or found wanting
	StageServices = "services" // every service is launched (they start in parallel)
	StageConsole  = "console"  // a console's shell runs (not in `vm -c`'s command mode)
	StageRuntime  = "runtime"  // the runtime answers GET /health on its socket
	StageBus      = "bus"      // the bus accepts connections on its socket
)

// BootStages lists the stages in order.
var BootStages = []string{StageInit, StageMounts, StageModules, StageData, StageServices, StageConsole, StageRuntime, StageBus}

// BootStage is when a stage of the boot ended, in milliseconds since the
// kernel started: CLOCK_BOOTTIME, the clock of the kernel's own log
// timestamps, so the stages line up with dmesg.
type BootStage struct {
	Name string  `json:"name"`
	MS   float64 `json:"ms"`
}

// BootReport is the document served at /boot.
type BootReport struct {
	Stages []BootStage `json:"stages"`
	// Pending are the stages still awaited; empty once the boot is over.
	Pending []string `json:"pending"`
	// Complete is true once every expected stage is reached or the wait
	// for them gave up (GaveUp).
	Complete bool `json:"complete"`
	GaveUp   bool `json:"gave_up,omitempty"`
	// NowMS is CLOCK_BOOTTIME when the report was made: with the time
	// the request took, it maps the guest's clock onto the host's.
	NowMS float64 `json:"now_ms"`
}

// BootTimes records the stages of one boot. Its methods are safe for
// concurrent use; the zero value is ready.
type BootTimes struct {
	mu      sync.Mutex
	stages  []BootStage
	pending []string
	done    bool
	gaveUp  bool
	now     func() float64 // ms since the kernel started; bootClockMS unless a test sets it
}

// bootClockMS is CLOCK_BOOTTIME in milliseconds.
func bootClockMS() float64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return 0
	}
	return float64(ts.Nano()) / 1e6
}

func (b *BootTimes) clock() float64 {
	if b.now != nil {
		return b.now()
	}
	return bootClockMS()
}

// Mark records that stage ended now. A stage is recorded once: a second
// Mark of it (a console restarting) keeps the first.
func (b *BootTimes) Mark(stage string) {
	now := b.clock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if slices.ContainsFunc(b.stages, func(s BootStage) bool { return s.Name == stage }) {
		return
	}
	b.stages = append(b.stages, BootStage{Name: stage, MS: now})
	b.pending = slices.DeleteFunc(b.pending, func(p string) bool { return p == stage })
}

// Has reports whether stage was recorded.
func (b *BootTimes) Has(stage string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.ContainsFunc(b.stages, func(s BootStage) bool { return s.Name == stage })
}

// expect sets the stages still to come; the report is complete when they
// are all marked, or after giveUp.
func (b *BootTimes) expect(stages []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending = nil
	for _, s := range stages {
		if !slices.ContainsFunc(b.stages, func(r BootStage) bool { return r.Name == s }) {
			b.pending = append(b.pending, s)
		}
	}
}

func (b *BootTimes) finish(gaveUp bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done, b.gaveUp = true, gaveUp
}

// Report returns the stages so far.
func (b *BootTimes) Report() BootReport {
	now := b.clock()
	b.mu.Lock()
	defer b.mu.Unlock()
	return BootReport{
		Stages: slices.Clone(b.stages), Pending: append([]string{}, b.pending...),
		Complete: b.done, GaveUp: b.gaveUp, NowMS: now,
	}
}

// String is the report as one log line: each stage with the time since
// the kernel started and, in brackets, since the stage before.
func (r BootReport) String() string {
	var sb strings.Builder
	prev := 0.0
	for i, s := range r.Stages {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s %.0fms (+%.0f)", s.Name, s.MS, s.MS-prev)
		prev = s.MS
	}
	if len(r.Pending) > 0 {
		fmt.Fprintf(&sb, "; never reached: %s", strings.Join(r.Pending, ", "))
	}
	return sb.String()
}

// bootWatchLimit bounds the wait for the services to become ready: a
// runtime that never answers must not keep the report pending forever.
const bootWatchLimit = 3 * time.Minute

// bootPoll is how often the readiness of the services is checked; short
// enough for the figures, long enough to cost the guest nothing much.
const bootPoll = 25 * time.Millisecond

// readiness checks whether one stage's service is ready.
type readiness struct {
	stage string
	ready func(context.Context) bool
}

// watchBoot marks the stages of checks as they become ready, then logs
// the report in the init log. It returns when all are ready, after limit, or when ctx
// ends.
func (sys *System) watchBoot(ctx context.Context, checks []readiness, limit time.Duration) {
	var want []string
	for _, c := range checks {
		want = append(want, c.stage)
	}
	sys.bootTimes.expect(want)
	giveUp := time.NewTimer(limit)
	defer giveUp.Stop()
	tick := time.NewTicker(bootPoll)
	defer tick.Stop()
wait:
	for {
		checks = slices.DeleteFunc(checks, func(c readiness) bool {
			if c.ready(ctx) {
				sys.bootTimes.Mark(c.stage)
				return true
			}
			return false
		})
		if len(checks) == 0 {
			break
		}
		select {
		case <-tick.C:
		case <-giveUp.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	sys.bootTimes.finish(len(checks) > 0)
	r := sys.bootTimes.Report()
	level := slog.LevelInfo
	if len(r.Pending) > 0 {
		level = slog.LevelWarn
	}
	// The init log only (`ainative logs`, /logs): by now the consoles'
	// shells are up, and a line on the console would land in their output.
	slog.New(slog.NewTextHandler(sys.initLog, logOptions)).Log(ctx, level, "boot times since the kernel started", "stages", r.String())
}

// bootChecks returns the readiness checks for the services cfg has: the
// consoles (a service with a terminal is running), the runtime (GET
// /health answers on runtimeSocket) and the bus (busSocket accepts), the
// last two by name, as ImageConfig calls them.
func bootChecks(cfg *Config, sup *Supervisor, runtimeSocket, busSocket string) []readiness {
	var consoles []string
	has := map[string]bool{}
	for _, s := range cfg.Services {
		has[s.Name] = true
		if s.TTY != "" {
			consoles = append(consoles, s.Name)
		}
	}
	var checks []readiness
	if len(consoles) > 0 && sup != nil {
		checks = append(checks, readiness{StageConsole, func(context.Context) bool {
			for _, st := range sup.Status() {
				if st.State == StateRunning && slices.Contains(consoles, st.Name) {
					return true
				}
			}
			return false
		}})
	}
	if has["runtime"] {
		checks = append(checks, readiness{StageRuntime, func(ctx context.Context) bool {
			return httpHealthy(ctx, runtimeSocket)
		}})
	}
	if has["bus"] {
		checks = append(checks, readiness{StageBus, func(ctx context.Context) bool {
			return socketAccepts(ctx, busSocket)
		}})
	}
	return checks
}

// httpHealthy reports whether an HTTP server on the Unix socket answers
// GET /health with 200.
func httpHealthy(ctx context.Context, socket string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://runtime/health", nil)
	if err != nil {
		return false
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// socketAccepts reports whether something accepts connections on the
// Unix socket.
func socketAccepts(ctx context.Context, socket string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// serveBoot serves the boot report at /boot.
func (sys *System) serveBoot(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, sys.bootTimes.Report())
}
