package initsys

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func stageNames(r BootReport) []string {
	var names []string
	for _, s := range r.Stages {
		names = append(names, s.Name)
	}
	return names
}

func TestBootTimesKeepsFirstMarkInOrder(t *testing.T) {
	clock := 0.0
	b := &BootTimes{now: func() float64 { clock += 10; return clock }}
	b.expect([]string{StageInit, StageMounts, StageConsole})
	b.Mark(StageInit)
	b.Mark(StageMounts)
	b.Mark(StageInit) // a second mark keeps the first
	r := b.Report()
	if got, want := stageNames(r), []string{StageInit, StageMounts}; !slices.Equal(got, want) {
		t.Fatalf("stages %v, want %v", got, want)
	}
	if r.Stages[0].MS != 10 || r.Stages[1].MS != 20 {
		t.Errorf("times %v, want 10 and 20 ms", r.Stages)
	}
	if !slices.Equal(r.Pending, []string{StageConsole}) || r.Complete {
		t.Errorf("pending %v complete %v, want [console] and not complete", r.Pending, r.Complete)
	}
	if !b.Has(StageMounts) || b.Has(StageBus) {
		t.Error("Has disagrees with the marks")
	}
	if s := r.String(); s != "init 10ms (+10), mounts 20ms (+10); never reached: console" {
		t.Errorf("String() = %q", s)
	}
}

func TestBootClockIsBootTime(t *testing.T) {
	b := &BootTimes{}
	b.Mark(StageInit)
	got := b.Report().Stages[0].MS
	up := uptimeSeconds() * 1000
	// sysinfo's uptime is the same clock rounded up to whole seconds.
	if got < up-1000 || got > up+60_000 {
		t.Errorf("boot clock %.0f ms, uptime %.0f ms", got, up)
	}
}

// shortTempDir is a temporary directory with a path short enough for
// Unix sockets (108 bytes), which t.TempDir may exceed.
func shortTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "bt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestWatchBootMarksReadyServices(t *testing.T) {
	dir := shortTempDir(t)
	runtimeSock, busSock := filepath.Join(dir, "ai.sock"), filepath.Join(dir, "bus.sock")
	cfg := &Config{Services: []Service{
		{Name: "runtime", Command: []string{"x"}},
		{Name: "bus", Command: []string{"x"}},
	}}
	var console bytes.Buffer
	sys := newSystem(false, &console)
	checks := bootChecks(cfg, nil, runtimeSock, busSock)
	done := make(chan struct{})
	go func() {
		sys.watchBoot(context.Background(), checks, time.Minute)
		close(done)
	}()

	// The bus comes up first, then the runtime: the stages follow.
	bus, err := net.Listen("unix", busSock)
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	for !sys.bootTimes.Has(StageBus) {
		time.Sleep(bootPoll)
	}
	if sys.bootTimes.Has(StageRuntime) {
		t.Fatal("runtime marked ready before its socket exists")
	}
	ln, err := net.Listen("unix", runtimeSock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.Write([]byte(`{"status":"ok"}`))
			return
		}
		http.NotFound(w, r)
	}))
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	<-done

	r := sys.bootTimes.Report()
	if got, want := stageNames(r), []string{StageBus, StageRuntime}; !slices.Equal(got, want) {
		t.Errorf("stages %v, want %v", got, want)
	}
	if !r.Complete || r.GaveUp || len(r.Pending) != 0 {
		t.Errorf("report %+v, want complete with nothing pending", r)
	}
	logs := strings.Join(sys.initLog.Lines(0), "\n")
	if !strings.Contains(logs, "boot times since the kernel started") {
		t.Errorf("no boot times in the init log:\n%s", logs)
	}
	if console.Len() != 0 {
		t.Errorf("boot times on the console, amid the shells' output: %s", console.String())
	}
}

func TestWatchBootGivesUpOnServicesNeverReady(t *testing.T) {
	dir := shortTempDir(t)
	// A runtime socket that answers, but not 200, is not ready.
	ln, err := net.Listen("unix", filepath.Join(dir, "ai.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	cfg := &Config{Services: []Service{{Name: "runtime", Command: []string{"x"}}, {Name: "bus", Command: []string{"x"}}}}
	sys := newSystem(false, nil)
	sys.watchBoot(context.Background(), bootChecks(cfg, nil, filepath.Join(dir, "ai.sock"), filepath.Join(dir, "bus.sock")), 200*time.Millisecond)
	logs := strings.Join(sys.initLog.Lines(0), "\n")
	r := sys.bootTimes.Report()
	if !r.Complete || !r.GaveUp || !slices.Equal(r.Pending, []string{StageRuntime, StageBus}) || len(r.Stages) != 0 {
		t.Errorf("report %+v, want given up with runtime and bus pending", r)
	}
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "never reached: runtime, bus") {
		t.Errorf("the log does not warn about the missing stages:\n%s", logs)
	}
}

func TestBootChecksFollowTheConfiguration(t *testing.T) {
	cfg := &Config{Services: []Service{{Name: "web", Command: []string{"x"}}}}
	if checks := bootChecks(cfg, nil, "/nonexistent/a", "/nonexistent/b"); len(checks) != 0 {
		t.Errorf("%d checks for a configuration without runtime, bus or consoles", len(checks))
	}
}

func TestStatusServesBootReport(t *testing.T) {
	sys := newSystem(false, nil)
	sys.bootTimes.Mark(StageInit)
	sys.bootTimes.expect([]string{StageRuntime})
	rec := httptest.NewRecorder()
	sys.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/boot", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /boot: %d %s", rec.Code, rec.Body)
	}
	var r BootReport
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if got := stageNames(r); !slices.Equal(got, []string{StageInit}) || !slices.Equal(r.Pending, []string{StageRuntime}) || r.Complete || r.NowMS < r.Stages[0].MS {
		t.Errorf("GET /boot = %+v", r)
	}
}
