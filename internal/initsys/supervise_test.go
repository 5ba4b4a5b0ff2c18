package initsys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/raym33/ainative/internal/leaktest"
)

// The test binary doubles as the supervised child: with INITSYS_CHILD set
// it behaves as the mode says instead of running tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("INITSYS_CHILD"); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

// child modes:
//
//	serve   record "start NAME", run until SIGTERM, record "stop NAME"
//	crash   print a line, exit 3 at once
//	stubborn  ignore SIGTERM, run until killed
//	orphan  start a grandchild that exits at once, exit without waiting for it
//	exit0   exit 0
func child(mode string) int {
	name := os.Getenv("NAME")
	record := func(ev string) {
		if f := os.Getenv("RECORD"); f != "" {
			fh, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err == nil {
				fmt.Fprintf(fh, "%s %s %d\n", ev, name, time.Now().UnixNano())
				fh.Close()
			}
		}
	}
	switch mode {
	case "serve":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		record("start")
		fmt.Println("serving", name)
		<-sigs
		record("stop")
		return 0
	case "crash":
		record("start")
		fmt.Println("crashing", name)
		fmt.Fprintln(os.Stderr, "to stderr")
		return 3
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		record("start")
		time.Sleep(time.Hour)
		return 0
	case "orphan":
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "INITSYS_CHILD=exit0")
		if err := cmd.Start(); err != nil {
			return 1
		}
		fmt.Println(cmd.Process.Pid)
		return 0
	case "exit0":
		return 0
	case "whoami":
		wd, _ := os.Getwd()
		fmt.Println(os.Getuid(), os.Getgid(), wd, os.Getenv("EXTRA"))
		return 0
	}
	return 2
}

func testService(name, mode string, record string) Service {
	return Service{
		Name:    name,
		Command: []string{os.Args[0], "-test.run=^$"},
		// GORACE: a race-built child would otherwise sleep 1 s at exit.
		Env:     map[string]string{"INITSYS_CHILD": mode, "NAME": name, "RECORD": record, "GORACE": "atexit_sleep_ms=0"},
		Backoff: Backoff{Initial: Duration(MinBackoff), Max: Duration(4 * MinBackoff)},
	}
}

// skipOrFail skips t for a missing prerequisite, except under CI=true,
// where the prerequisite must be there and its absence fails the test.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("under CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

// logRecorder is a slog.Handler keeping every record, so that tests can
// check what the supervisor decided (the back-off delays) rather than
// how long things took.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r.Clone())
	h.mu.Unlock()
	return nil
}

// durations returns the values of attribute key in the records whose
// message is msg, in order.
func (h *logRecorder) durations(msg, key string) []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []time.Duration
	for _, r := range h.recs {
		if r.Message != msg {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				out = append(out, a.Value.Duration())
			}
			return true
		})
	}
	return out
}

// pidfd opens a pidfd for the running process of service name. The
// supervisor clears a service's pid before it reaps the process, so if
// the status still shows the pid after the pidfd is open, the pidfd is
// that process and not a later one that reused the number (which
// kill(pid, 0) could not tell apart).
func pidfd(t *testing.T, s *Supervisor, name string) int {
	t.Helper()
	pid := status(s, name).PID
	if pid == 0 {
		t.Fatalf("service %s has no process", name)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if now := status(s, name).PID; now != pid {
		t.Fatalf("service %s: process %d ended while its pidfd was opened", name, pid)
	}
	return fd
}

// exited reports whether the process of a pidfd has ended.
func exited(t *testing.T, fd int) bool {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startSupervisor(t *testing.T, cfg *Config, opts Options) *Supervisor {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	s, err := NewSupervisor(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

// waitFor polls cond until it holds. The minute is a guard against a
// hang, not a time limit the test measures.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func status(s *Supervisor, name string) ServiceStatus {
	for _, st := range s.Status() {
		if st.Name == name {
			return st
		}
	}
	return ServiceStatus{}
}

type event struct {
	what, name string
	at         time.Time
}

func readEvents(t *testing.T, path string) []event {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []event
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		ns, _ := strconv.ParseInt(f[2], 10, 64)
		out = append(out, event{f[0], f[1], time.Unix(0, ns)})
	}
	return out
}

func TestRestartWithBackoff(t *testing.T) {
	leaktest.Check(t)
	rec := filepath.Join(t.TempDir(), "events")
	svc := testService("crasher", "crash", rec)
	svc.Backoff = Backoff{Initial: Duration(MinBackoff), Max: Duration(4 * MinBackoff)}
	logs := &logRecorder{}
	s := startSupervisor(t, &Config{Services: []Service{svc}}, Options{Logger: slog.New(logs)})
	waitFor(t, "5 starts", func() bool { return len(readEvents(t, rec)) >= 5 })

	// Delays double from the initial one up to the cap.
	got := logs.durations("service exited; restarting", "after")[:4]
	want := []time.Duration{MinBackoff, 2 * MinBackoff, 4 * MinBackoff, 4 * MinBackoff}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("restart delays %v, want %v", got, want)
	}
	// And the supervisor waited at least that long.
	ev := readEvents(t, rec)
	for i, w := range want {
		if gap := ev[i+1].at.Sub(ev[i].at); gap < w {
			t.Errorf("gap before start %d = %v, want at least %v", i+2, gap, w)
		}
	}
	st := status(s, "crasher")
	if st.Restarts < 4 {
		t.Errorf("restarts = %d, want >= 4", st.Restarts)
	}
	if st.LastExit != "exited with status 3" {
		t.Errorf("last exit = %q", st.LastExit)
	}
	lines := s.Logs("crasher").Lines(0)
	joined := strings.Join(lines, "\n")
	for _, want := range []string{"crashing crasher", "to stderr", "exited with status 3"} {
		if !strings.Contains(joined, want) {
			t.Errorf("log lacks %q:\n%s", want, joined)
		}
	}
}

func TestBackoffResetsAfterStableRun(t *testing.T) {
	svc := testService("x", "crash", "")
	svc.Backoff = Backoff{Initial: Duration(MinBackoff), Max: Duration(time.Hour), StableAfter: Duration(time.Nanosecond)}
	logs := &logRecorder{}
	startSupervisor(t, &Config{Services: []Service{svc}}, Options{Logger: slog.New(logs)})
	// Every run counts as stable, so the delay never doubles.
	waitFor(t, "4 restarts", func() bool { return len(logs.durations("service exited; restarting", "after")) >= 4 })
	for i, d := range logs.durations("service exited; restarting", "after")[:4] {
		if d != MinBackoff {
			t.Errorf("delay %d = %v, want %v after the reset", i, d, MinBackoff)
		}
	}
}

func TestDependencyOrderAndReverseShutdown(t *testing.T) {
	leaktest.Check(t)
	rec := filepath.Join(t.TempDir(), "events")
	c := testService("c", "serve", rec)
	c.After = []string{"b"}
	b := testService("b", "serve", rec)
	b.After = []string{"a"}
	a := testService("a", "serve", rec)
	d := testService("d", "serve", rec) // independent
	cfg := &Config{Services: []Service{c, b, d, a}}
	s, err := NewSupervisor(cfg, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Names(), ","); got != "a,b,c,d" {
		t.Errorf("start order = %s, want a,b,c,d", got)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all running", func() bool {
		for _, st := range s.Status() {
			if st.State != StateRunning {
				return false
			}
		}
		return len(readEvents(t, rec)) == 4
	})
	// A dependency counts as started once its process exists (not when it
	// is ready), so compare the supervisor's start times.
	sa, sb, sc := status(s, "a").Started, status(s, "b").Started, status(s, "c").Started
	if !sa.Before(sb) || !sb.Before(sc) {
		t.Errorf("start times a=%v b=%v c=%v, want a < b < c", sa, sb, sc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	var stops []string
	for _, e := range readEvents(t, rec) {
		if e.what == "stop" {
			stops = append(stops, e.name)
		}
	}
	if got := strings.Join(stops, ","); got != "d,c,b,a" {
		t.Errorf("stops = %s, want d,c,b,a (reverse start order)", got)
	}
	for _, st := range s.Status() {
		if st.State != StateStopped || st.PID != 0 {
			t.Errorf("%s: state %s pid %d after Stop", st.Name, st.State, st.PID)
		}
	}
}

func TestDependentWaitsForFailingService(t *testing.T) {
	bad := Service{Name: "bad", Command: []string{"/nonexistent/binary"},
		Backoff: Backoff{Initial: Duration(MinBackoff), Max: Duration(MinBackoff)}}
	dep := testService("dep", "serve", "")
	dep.After = []string{"bad"}
	other := testService("other", "serve", "")
	s := startSupervisor(t, &Config{Services: []Service{bad, dep, other}}, Options{})
	waitFor(t, "other running and bad retried", func() bool {
		return status(s, "other").State == StateRunning && status(s, "bad").Restarts >= 2
	})
	if st := status(s, "dep"); st.State != StateWaiting {
		t.Errorf("dep state = %s, want waiting while bad cannot start", st.State)
	}
	if st := status(s, "bad"); !strings.Contains(st.LastExit, "start failed") {
		t.Errorf("bad last exit = %q", st.LastExit)
	}
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	leaktest.Check(t)
	rec := filepath.Join(t.TempDir(), "events")
	svc := testService("stubborn", "stubborn", rec)
	svc.StopTimeout = Duration(200 * time.Millisecond)
	s, err := NewSupervisor(&Config{Services: []Service{svc}}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "running", func() bool { return len(readEvents(t, rec)) == 1 })
	fd := pidfd(t, s, "stubborn")
	begin := time.Now()
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d < 200*time.Millisecond {
		t.Errorf("Stop returned after %v, before the stop timeout", d)
	}
	if !exited(t, fd) {
		t.Error("process still alive after Stop")
	}
	if st := status(s, "stubborn"); st.LastExit != "killed by signal killed" {
		t.Errorf("last exit = %q", st.LastExit)
	}
}

func TestRestartPolicies(t *testing.T) {
	never := testService("never", "crash", "")
	never.Restart = RestartNever
	okOnce := testService("ok", "exit0", "")
	okOnce.Restart = RestartOnFailure
	failing := testService("failing", "crash", "")
	failing.Restart = RestartOnFailure
	s := startSupervisor(t, &Config{Services: []Service{never, okOnce, failing}}, Options{})
	waitFor(t, "policies applied", func() bool {
		return status(s, "never").State == StateExited &&
			status(s, "ok").State == StateExited &&
			status(s, "failing").Restarts >= 2
	})
	if r := status(s, "never").Restarts; r != 0 {
		t.Errorf("never: restarts = %d", r)
	}
	if r := status(s, "ok").Restarts; r != 0 {
		t.Errorf("on-failure after success: restarts = %d", r)
	}
}

func TestCancelContextStopsServices(t *testing.T) {
	leaktest.Check(t)
	rec := filepath.Join(t.TempDir(), "events")
	s, err := NewSupervisor(&Config{Services: []Service{testService("a", "serve", rec)}}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "running", func() bool { return len(readEvents(t, rec)) == 1 })
	cancel()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := s.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	if ev := readEvents(t, rec); len(ev) != 2 || ev[1].what != "stop" {
		t.Errorf("events = %v, want start then stop", ev)
	}
}

func TestReaperCollectsOrphansOnly(t *testing.T) {
	// Become a subreaper so the grandchild is reparented to this process,
	// as orphans are to PID 1.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		skipOrFail(t, "PR_SET_CHILD_SUBREAPER: %v", err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	r := NewReaper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	orphan := testService("orphan", "orphan", "")
	orphan.Restart = RestartNever
	crash := testService("crash", "crash", "")
	crash.Restart = RestartNever
	s := startSupervisor(t, &Config{Services: []Service{orphan, crash}}, Options{Reaper: r})
	waitFor(t, "both exited", func() bool {
		return status(s, "orphan").State == StateExited && status(s, "crash").State == StateExited
	})
	// The supervisor, not the reaper, collected its own children.
	if st := status(s, "crash"); st.LastExit != "exited with status 3" {
		t.Errorf("crash last exit = %q; the reaper stole its status?", st.LastExit)
	}
	lines := s.Logs("orphan").Lines(0)
	if len(lines) == 0 {
		t.Fatal("orphan printed nothing")
	}
	gpid, err := strconv.Atoi(lines[0])
	if err != nil {
		t.Fatalf("orphan output %q", lines)
	}
	waitFor(t, "grandchild reaped", func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", gpid))
		return os.IsNotExist(err)
	})
}

func TestUserDirEnv(t *testing.T) {
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root to change user")
	}
	// The unprivileged user must be able to run the test binary, which
	// lives in a private build directory: copy it somewhere readable.
	dir, err := os.MkdirTemp("", "initsys-user-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	exe, _ := os.ReadFile(os.Args[0])
	bin := filepath.Join(dir, "child")
	if err := os.WriteFile(bin, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	svc := testService("who", "whoami", "")
	svc.Command[0] = bin
	svc.Restart = RestartNever
	svc.User = "65534:65533"
	svc.Dir = "/tmp"
	svc.Env["EXTRA"] = "x=y"
	s := startSupervisor(t, &Config{Services: []Service{svc}}, Options{Env: append(os.Environ(), "EXTRA=base")})
	waitFor(t, "exited", func() bool { return status(s, "who").State == StateExited })
	if got := s.Logs("who").Lines(2); len(got) != 2 || got[0] != "65534 65533 /tmp x=y" {
		t.Errorf("child saw %q, want uid, gid, dir and env from the service", got)
	}
	if _, err := lookupUser("nosuchuser-xyz"); err == nil {
		t.Error("unknown user accepted")
	}
	if c, err := lookupUser("12:34"); err != nil || c.Uid != 12 || c.Gid != 34 {
		t.Errorf("12:34 = %+v %v", c, err)
	}
}

func TestParseStat(t *testing.T) {
	state, ppid, ok := parseStat("123 (a (weird) name) Z 1 123 123 0 -1")
	if !ok || state != 'Z' || ppid != 1 {
		t.Errorf("got %c %d %v", state, ppid, ok)
	}
	if _, _, ok := parseStat("garbage"); ok {
		t.Error("parsed garbage")
	}
}

// A Stop that comes while the service's process is being started must
// still reach it with SIGTERM, not leave it to the SIGKILL after the stop
// timeout.
func TestStopRightAfterStart(t *testing.T) {
	leaktest.Check(t)
	for range 20 {
		svc := testService("a", "serve", "")
		svc.StopTimeout = Duration(time.Hour)
		s, err := NewSupervisor(&Config{Services: []Service{svc}}, Options{Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err = s.Stop(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Stop: %v (the service missed SIGTERM)", err)
		}
		// Ended by SIGTERM (before or after its handler was installed),
		// or never started; not by the SIGKILL after the timeout.
		if st := status(s, "a"); st.LastExit == "killed by signal killed" {
			t.Fatalf("last exit %q: SIGTERM was lost", st.LastExit)
		}
	}
}

// A second Stop (Shutdown while a cancelled context is already stopping
// the services) returns only once the services are stopped.
func TestConcurrentStopWaits(t *testing.T) {
	leaktest.Check(t)
	rec := filepath.Join(t.TempDir(), "events")
	svc := testService("stubborn", "stubborn", rec)
	svc.StopTimeout = Duration(300 * time.Millisecond)
	s, err := NewSupervisor(&Config{Services: []Service{svc}}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "running", func() bool { return len(readEvents(t, rec)) == 1 })
	fd := pidfd(t, s, "stubborn")
	first := make(chan error, 1)
	go func() { first <- s.Stop(context.Background()) }()
	waitFor(t, "stopping", func() bool { return status(s, "stubborn").State == StateStopping })
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !exited(t, fd) {
		t.Error("second Stop returned while the process was still alive")
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

// When Stop runs out of time, what is still running is killed rather
// than left behind.
func TestStopDeadlineKillsTheRest(t *testing.T) {
	leaktest.Check(t)
	rec := filepath.Join(t.TempDir(), "events")
	a := testService("a", "stubborn", rec)
	b := testService("b", "stubborn", rec)
	a.StopTimeout, b.StopTimeout = Duration(time.Minute), Duration(time.Minute)
	s, err := NewSupervisor(&Config{Services: []Service{a, b}}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "running", func() bool { return len(readEvents(t, rec)) == 2 })
	fds := []int{pidfd(t, s, "a"), pidfd(t, s, "b")}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want the deadline's error", err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if err := s.Wait(wctx); err != nil {
		t.Fatalf("services still running after Stop's deadline: %v", err)
	}
	for i, fd := range fds {
		if !exited(t, fd) {
			t.Errorf("process of service %d still alive", i)
		}
	}
}

// A missing working directory is reported as such, not as the command
// missing.
func TestMissingDir(t *testing.T) {
	svc := testService("a", "exit0", "")
	svc.Dir = "/nonexistent-dir"
	svc.Restart = RestartNever
	s := startSupervisor(t, &Config{Services: []Service{svc}}, Options{})
	waitFor(t, "exited", func() bool { return status(s, "a").State == StateExited })
	if got := status(s, "a").LastExit; !strings.Contains(got, `working directory "/nonexistent-dir" does not exist`) {
		t.Errorf("last exit %q", got)
	}
}

// When Stop's deadline passes while a service's process is still being
// started, that process gets SIGKILL as soon as it exists, and does not
// outlive the supervisor. The test holds the reaper's lock, which the
// start needs, so the service is caught in the middle of starting.
func TestStopDeadlineKillsStartingService(t *testing.T) {
	leaktest.Check(t)
	r := NewReaper()
	svc := testService("slow", "stubborn", "")
	svc.StopTimeout = Duration(time.Hour)
	svc.Restart = RestartNever
	s, err := NewSupervisor(&Config{Services: []Service{svc}}, Options{Logger: quietLogger(), Reaper: r})
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the start to wait for the reaper", func() bool {
		buf := make([]byte, 1<<20)
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "initsys.(*Reaper).start")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want the deadline's error", err)
	}
	r.mu.Unlock()
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	if err := s.Wait(wctx); err != nil {
		t.Fatalf("the service outlived Stop's deadline: %v", err)
	}
	if st := status(s, "slow"); st.LastExit != "killed by signal killed" {
		t.Errorf("last exit %q, want SIGKILL", st.LastExit)
	}
}

// A service's process group is killed while its leader is an unreaped
// zombie: once reaped, its id may name an unrelated process group.
func TestGroupKilledBeforeReaping(t *testing.T) {
	var mu sync.Mutex
	var states []string
	old := killGroup
	killGroup = func(pgid int) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pgid))
		st := "reaped"
		if err == nil {
			if s, _, ok := parseStat(string(b)); ok {
				st = string(s)
			}
		}
		mu.Lock()
		states = append(states, st)
		mu.Unlock()
		old(pgid)
	}
	t.Cleanup(func() { killGroup = old })
	crash := testService("crash", "crash", "")
	crash.Restart = RestartNever
	serve := testService("serve", "serve", "")
	s := startSupervisor(t, &Config{Services: []Service{crash, serve}}, Options{})
	waitFor(t, "crash exited, serve running", func() bool {
		return status(s, "crash").State == StateExited && status(s, "serve").State == StateRunning
	})
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(states) != 2 {
		t.Fatalf("%d group kills, want 2", len(states))
	}
	for _, st := range states {
		if st != "Z" {
			t.Errorf("process group killed in state %s, want Z (exited, not reaped)", st)
		}
	}
}

// panicky is a slog.Handler that panics on a message, as a bug in the
// supervisor would; before panicking on "service started" it opens a
// pidfd for the process, which is not reaped yet.
type panicky struct {
	msg   string
	times int // panics left
	mu    sync.Mutex
	fds   []int
}

func (h *panicky) Enabled(context.Context, slog.Level) bool { return true }
func (h *panicky) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *panicky) WithGroup(string) slog.Handler            { return h }
func (h *panicky) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Message != h.msg || h.times == 0 {
		return nil
	}
	h.times--
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "pid" {
			if fd, err := unix.PidfdOpen(int(a.Value.Int64()), 0); err == nil {
				h.fds = append(h.fds, fd)
			}
		}
		return true
	})
	panic("boom in " + r.Message)
}

// A panic while supervising a service is reported and survived: the
// process of that moment is killed, and supervision goes on.
func TestPanicInSupervisionIsSurvived(t *testing.T) {
	leaktest.Check(t)
	h := &panicky{msg: "service started", times: 1}
	svc := testService("a", "serve", "")
	s := startSupervisor(t, &Config{Services: []Service{svc}}, Options{Logger: slog.New(h)})
	waitFor(t, "a restarted", func() bool {
		st := status(s, "a")
		return st.Restarts >= 1 && st.State == StateRunning
	})
	if got := strings.Join(s.Logs("a").Lines(0), "\n"); !strings.Contains(got, "supervisor panic: boom in service started") {
		t.Errorf("service log lacks the panic:\n%s", got)
	}
	h.mu.Lock()
	fds := h.fds
	h.mu.Unlock()
	if len(fds) != 1 {
		t.Fatalf("%d pidfds", len(fds))
	}
	defer unix.Close(fds[0])
	if !exited(t, fds[0]) {
		t.Error("the process of the panicking attempt is still running")
	}
}

// A panic while stopping (here from the context's cancellation, on the
// supervisor's own goroutine) neither kills the process nor leaves the
// services running.
func TestPanicWhileStopping(t *testing.T) {
	leaktest.Check(t)
	h := &panicky{msg: "stopping service", times: 1}
	svc := testService("a", "serve", "")
	s, err := NewSupervisor(&Config{Services: []Service{svc}}, Options{Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "running", func() bool { return status(s, "a").State == StateRunning })
	fd := pidfd(t, s, "a")
	cancel()
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	if err := s.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(wctx); err == nil || !strings.Contains(err.Error(), "panic: boom in stopping service") {
		t.Errorf("Stop = %v, want the panic reported", err)
	}
	if !exited(t, fd) {
		t.Error("the service outlived the panic")
	}
}
