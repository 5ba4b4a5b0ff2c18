package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/raym33/ainative/internal/initsys"
)

// ShellPrompt is the console shell's first prompt with the image's
// default host name, which MeasureBoot waits for.
const ShellPrompt = "ainative:/# "

// Stages MeasureBoot adds to PID 1's (initsys.BootStages) from the host's
// side of the boot.
const (
	StageQEMU   = "qemu"   // QEMU started (the origin of the timeline)
	StageKernel = "kernel" // the guest kernel's clock starts: firmware done, kernel loaded and decompressed
	StagePrompt = "prompt" // the shell prompt appeared on the serial console
)

// BootStep is one stage of a boot on the host's clock.
type BootStep struct {
	Name string  `json:"name"`
	MS   float64 `json:"ms"` // since QEMU started
	// Step is the time since the step before it.
	Step float64 `json:"step_ms"`
}

// BootTimeline is where one boot's time went, or the median of several.
type BootTimeline struct {
	Accel string     `json:"accel"`
	Boots int        `json:"boots"`
	Steps []BootStep `json:"stages"`
	// Pending names the stages PID 1 never reached.
	Pending []string `json:"pending,omitempty"`
}

// Timeline puts a PID 1 boot report on the host's clock: kernelMS is when
// the guest's clock read zero, in ms since QEMU started; promptMS is when
// the prompt was seen (negative: never). The steps are sorted by time.
func Timeline(accel string, r initsys.BootReport, kernelMS, promptMS float64) BootTimeline {
	tl := BootTimeline{Accel: accel, Boots: 1, Pending: r.Pending}
	tl.Steps = append(tl.Steps, BootStep{Name: StageQEMU}, BootStep{Name: StageKernel, MS: kernelMS})
	for _, s := range r.Stages {
		tl.Steps = append(tl.Steps, BootStep{Name: s.Name, MS: kernelMS + s.MS})
	}
	if promptMS >= 0 {
		tl.Steps = append(tl.Steps, BootStep{Name: StagePrompt, MS: promptMS})
	}
	tl.sortSteps()
	return tl
}

func (tl *BootTimeline) sortSteps() {
	sort.SliceStable(tl.Steps, func(i, j int) bool { return tl.Steps[i].MS < tl.Steps[j].MS })
	prev := 0.0
	for i := range tl.Steps {
		tl.Steps[i].Step = tl.Steps[i].MS - prev
		prev = tl.Steps[i].MS
	}
}

// MedianTimeline is the median, stage by stage, of several boots; a
// stage missing from some boots is the median of those that have it.
func MedianTimeline(tls []BootTimeline) BootTimeline {
	if len(tls) == 0 {
		return BootTimeline{}
	}
	out := BootTimeline{Accel: tls[0].Accel, Boots: len(tls)}
	var order []string
	times := map[string][]float64{}
	for _, tl := range tls {
		for _, s := range tl.Steps {
			if _, ok := times[s.Name]; !ok {
				order = append(order, s.Name)
			}
			times[s.Name] = append(times[s.Name], s.MS)
		}
		for _, p := range tl.Pending {
			if !slices.Contains(out.Pending, p) {
				out.Pending = append(out.Pending, p)
			}
		}
	}
	for _, name := range order {
		out.Steps = append(out.Steps, BootStep{Name: name, MS: median(times[name])})
	}
	out.sortSteps()
	return out
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// promptWatch is an io.Writer on the console that notes when text first
// appears in it, even split across writes.
type promptWatch struct {
	want  []byte
	start time.Time
	mu    sync.Mutex
	tail  []byte
	at    time.Duration // when want appeared; 0: not yet
	seen  chan struct{}
}

func newPromptWatch(want string, start time.Time) *promptWatch {
	return &promptWatch{want: []byte(want), start: start, seen: make(chan struct{})}
}

func (p *promptWatch) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Since(p.start)
	if p.at != 0 {
		return len(b), nil
	}
	p.tail = append(p.tail, b...)
	if bytes.Contains(p.tail, p.want) {
		p.at = now
		close(p.seen)
		p.tail = nil
		return len(b), nil
	}
	if keep := len(p.want) - 1; len(p.tail) > keep {
		p.tail = append(p.tail[:0], p.tail[len(p.tail)-keep:]...)
	}
	return len(b), nil
}

func (p *promptWatch) when() (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.at, p.at != 0
}

// MeasureBoot boots cfg (with its consoles: not command mode), waits for
// the shell prompt on the console and for PID 1's boot report on its
// status page (which cfg must forward, Guest initsys.StatusPort), then
// powers the guest off from its shell and returns the timeline. The
// guest clock is mapped onto the host's through the report's request
// with the shortest round trip. console, if not nil, gets the console.
func MeasureBoot(ctx context.Context, cfg *Config, console io.Writer, timeout time.Duration) (BootTimeline, error) {
	hasStatus := slices.ContainsFunc(cfg.Forwards, func(f Forward) bool { return f.Guest == initsys.StatusPort })
	if !hasStatus {
		return BootTimeline{}, errors.New("measuring a boot needs the status page forwarded")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stdin, typeIn := io.Pipe()
	defer typeIn.Close()
	tail := &Tail{Max: 64 << 10}
	// The origin is when Start returns, right after QEMU's process began
	// (before that, Start may probe KVM); the watch holds its lock until
	// then, so no output is timed against an unset origin.
	prompt := newPromptWatch(ShellPrompt, time.Time{})
	out := io.MultiWriter(tail, prompt)
	if console != nil {
		out = io.MultiWriter(tail, prompt, console)
	}
	cfg.Stdin, cfg.Stdout, cfg.Stderr, cfg.Interactive = stdin, out, out, false
	prompt.mu.Lock()
	vm, err := Start(ctx, cfg)
	start := time.Now()
	prompt.start = start
	prompt.mu.Unlock()
	if err != nil {
		return BootTimeline{}, err
	}
	defer vm.Kill()
	fail := func(err error) (BootTimeline, error) {
		return BootTimeline{}, fmt.Errorf("%w\n--- guest console (end) ---\n%s", err, tail.Bytes())
	}
	port := 0
	for _, f := range cfg.Forwards {
		if f.Guest == initsys.StatusPort {
			port = f.Host
		}
	}
	report, kernelMS, err := pollBootReport(ctx, vm, fmt.Sprintf("http://127.0.0.1:%d/boot", port), start)
	if err != nil {
		return fail(err)
	}
	select {
	case <-prompt.seen:
	case <-vm.Done():
		return fail(errors.New("the VM ended before its shell prompt appeared"))
	case <-ctx.Done():
		return fail(fmt.Errorf("no shell prompt on the console within %v", timeout))
	}
	at, _ := prompt.when()
	tl := Timeline(vm.Accel, report, kernelMS, float64(at)/1e6)
	fmt.Fprint(typeIn, "poweroff\r")
	select {
	case <-vm.Done():
	case <-time.After(2 * time.Minute):
		return fail(errors.New("the guest did not power off within 2 minutes of `poweroff`"))
	case <-ctx.Done():
		return fail(fmt.Errorf("the guest did not power off within %v", timeout))
	}
	status, _ := vm.Wait()
	if o := Classify(cfg.Arch, status); o != Clean {
		return fail(fmt.Errorf("the guest ended with a %s", o))
	}
	return tl, nil
}

// pollBootReport asks the status page for the boot report until it is
// complete, and returns it with the host time (ms since start) at which
// the guest's clock read zero.
func pollBootReport(ctx context.Context, vm *VM, url string, start time.Time) (initsys.BootReport, float64, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	bestRTT, kernelMS := math.Inf(1), 0.0
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return initsys.BootReport{}, 0, err
		}
		sent := time.Since(start)
		resp, err := hc.Do(req)
		if err == nil {
			var r initsys.BootReport
			err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r)
			resp.Body.Close()
			got := time.Since(start)
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("GET %s: %s", url, resp.Status)
			}
			if err == nil {
				if rtt := float64(got-sent) / 1e6; rtt < bestRTT {
					bestRTT = rtt
					kernelMS = float64(sent+got)/2e6 - r.NowMS
				}
				if r.Complete {
					return r, kernelMS, nil
				}
			}
		}
		if err != nil {
			last = err
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-vm.Done():
			return initsys.BootReport{}, 0, fmt.Errorf("the VM ended before PID 1's boot report was complete (last: %v)", last)
		case <-ctx.Done():
			return initsys.BootReport{}, 0, fmt.Errorf("PID 1's boot report not complete in time (last: %v)", last)
		}
	}
}
