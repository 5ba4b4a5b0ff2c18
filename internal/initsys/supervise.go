package initsys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Supervisor starts the configured services in dependency order, restarts
// them according to their policy with exponential back-off, keeps their
// output in per-service ring buffers and stops them in reverse order. It
// works the same as PID 1 and as an ordinary process (`ainative up`).
//
// A service's failure is contained: a process that cannot start, crashes or
// is killed only affects that service (and those that wait for it to start).
type Supervisor struct {
	log      *slog.Logger
	services []*service // in start order
	byName   map[string]*service
	env      []string
	self     string
	reaper   *Reaper

	mu       sync.Mutex
	started  bool
	stopping bool               // Stop was called
	stopped  chan struct{}      // closed when the first Stop has finished
	stopErr  error              // its result, read after stopped is closed
	cancel   context.CancelFunc // ends the services' goroutines
}

// Options configures a Supervisor; the zero value is usable.
type Options struct {
	// Logger receives the supervisor's own messages (starts, exits,
	// back-off). Nil means slog.Default().
	Logger *slog.Logger
	// Env is the base environment of every service; nil means os.Environ().
	Env []string
	// Self is the path of the ainative binary, used when a command names
	// "ainative" (so `up` works without ainative in $PATH). Empty means
	// os.Executable().
	Self string
	// LogLines and LogBytes bound each service's log buffer (defaults
	// DefaultLogLines and DefaultLogBytes).
	LogLines, LogBytes int
	// Reaper, when set (PID 1), starts the processes so that it can tell
	// them apart from orphans it must reap.
	Reaper *Reaper
}

// State is where a service is in its life cycle.
type State string

// The service states shown by Status.
const (
	StateWaiting  State = "waiting"  // for the services in After to start
	StateRunning  State = "running"  // the process is alive
	StateBackoff  State = "backoff"  // exited or failed to start; restarting after a delay
	StateExited   State = "exited"   // exited and its policy says not to restart
	StateStopping State = "stopping" // SIGTERM sent
	StateStopped  State = "stopped"  // stopped by the supervisor
)

// ServiceStatus is a snapshot of one service, as served by the status page.
type ServiceStatus struct {
	Name     string    `json:"name"`
	Command  []string  `json:"command"`
	State    State     `json:"state"`
	PID      int       `json:"pid,omitempty"`
	Restarts int       `json:"restarts"`
	Started  time.Time `json:"started,omitzero"`
	LastExit string    `json:"last_exit,omitempty"`
	TTY      string    `json:"tty,omitempty"`
}

type service struct {
	cfg    Service
	logs   *LogBuffer
	deps   []*service
	up     chan struct{} // closed the first time the process starts
	upOnce sync.Once
	done   chan struct{} // closed when the service's goroutine returns
	stop   chan struct{} // closed to ask the goroutine to stop
	stopMu sync.Once

	mu       sync.Mutex
	state    State
	proc     *os.Process    // set while the process runs, until just before it is reaped
	want     syscall.Signal // the strongest signal Stop asked for, even without a process
	restarts int
	started  time.Time
	lastExit string
}

// NewSupervisor validates cfg and prepares its services; nothing starts
// before Start.
func NewSupervisor(cfg *Config, opts Options) (*Supervisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	order, err := cfg.startOrder()
	if err != nil {
		return nil, err
	}
	s := &Supervisor{
		log:     opts.Logger,
		byName:  make(map[string]*service, len(order)),
		env:     opts.Env,
		self:    opts.Self,
		reaper:  opts.Reaper,
		stopped: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.env == nil {
		s.env = os.Environ()
	}
	if s.self == "" {
		if exe, err := os.Executable(); err == nil {
			s.self = exe
		}
	}
	lines, size := opts.LogLines, opts.LogBytes
	if lines <= 0 {
		lines = DefaultLogLines
	}
	if size <= 0 {
		size = DefaultLogBytes
	}
	for _, c := range order {
		svc := &service{
			cfg:   *c,
			logs:  NewLogBuffer(lines, size),
			up:    make(chan struct{}),
			done:  make(chan struct{}),
			stop:  make(chan struct{}),
			state: StateWaiting,
		}
		for _, d := range c.After {
			svc.deps = append(svc.deps, s.byName[d]) // deps precede in start order
		}
		s.services = append(s.services, svc)
		s.byName[c.Name] = svc
	}
	return s, nil
}

// Start launches every service; each waits for the services it names in
// After. It returns at once; cancelling ctx is the same as calling Stop
// without waiting for it.
func (s *Supervisor) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("supervisor already started")
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	for _, svc := range s.services {
		go s.run(ctx, svc)
	}
	go func() {
		// Ends when Stop cancels ctx, so it never outlives the services.
		// Stop recovers its own panics.
		<-ctx.Done()
		_ = s.Stop(context.Background())
	}()
	return nil
}

// Stop stops the services in reverse start order: each gets SIGTERM (its
// whole process group), then SIGKILL after its stop timeout. If ctx ends
// first, the services still running are killed at once, without waiting,
// and Stop returns ctx's error: nothing outlives the supervisor. Every
// call returns only once the services are stopped (or its ctx is done),
// so a Shutdown racing a cancelled context does not return early.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.started {
		s.mu.Unlock()
		return nil
	}
	first := !s.stopping
	s.stopping = true
	s.mu.Unlock()
	if first {
		s.stopErr = s.stopAllSafely(ctx)
		s.cancel()
		close(s.stopped)
		return s.stopErr
	}
	select {
	case <-s.stopped:
		return s.stopErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stopAllSafely is stopAll, except that a panic (a bug, or a logger that
// fails) is reported and turned into an error after every service is
// sent SIGKILL: the supervisor may be PID 1, and what it supervised must
// not outlive it either way.
func (s *Supervisor) stopAllSafely(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.reportPanic("stopping the services", r)
			for _, svc := range s.services {
				svc.stopMu.Do(func() { close(svc.stop) })
				svc.signal(syscall.SIGKILL)
			}
			err = fmt.Errorf("stopping the services: panic: %v", r)
		}
	}()
	return s.stopAll(ctx)
}

// reportPanic logs a recovered panic with its stack; should the logger
// itself panic, the report goes to standard error (PID 1's console).
func (s *Supervisor) reportPanic(where string, r any) {
	stack := debug.Stack()
	defer func() {
		if r2 := recover(); r2 != nil {
			fmt.Fprintf(os.Stderr, "ainative: recovered from a panic in %s: %v\n%s", where, r, stack)
		}
	}()
	s.log.Error("recovered from a panic", "in", where, "panic", r, "stack", string(stack))
}

func (s *Supervisor) stopAll(ctx context.Context) error {
	for i := len(s.services) - 1; i >= 0; i-- {
		if err := s.stopService(ctx, s.services[i]); err != nil {
			for _, svc := range s.services[:i+1] {
				svc.stopMu.Do(func() { close(svc.stop) })
				svc.signal(syscall.SIGKILL)
			}
			return err
		}
	}
	return nil
}

func (s *Supervisor) stopService(ctx context.Context, svc *service) error {
	svc.stopMu.Do(func() { close(svc.stop) })
	timeout := time.Duration(svc.cfg.StopTimeout)
	if svc.signal(syscall.SIGTERM) {
		s.log.Info("stopping service", "service", svc.cfg.Name)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-svc.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stopping service %q: %w", svc.cfg.Name, ctx.Err())
	case <-t.C:
	}
	s.log.Warn("service did not stop after SIGTERM; sending SIGKILL", "service", svc.cfg.Name, "timeout", timeout)
	svc.signal(syscall.SIGKILL)
	select {
	case <-svc.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stopping service %q: %w", svc.cfg.Name, ctx.Err())
	}
}

// Wait blocks until every service goroutine has returned (after Stop, or
// when all services exited for good) or ctx is done.
func (s *Supervisor) Wait(ctx context.Context) error {
	for _, svc := range s.services {
		select {
		case <-svc.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Status returns a snapshot of every service in start order.
func (s *Supervisor) Status() []ServiceStatus {
	out := make([]ServiceStatus, 0, len(s.services))
	for _, svc := range s.services {
		svc.mu.Lock()
		st := ServiceStatus{
			Name:     svc.cfg.Name,
			Command:  svc.cfg.Command,
			State:    svc.state,
			Restarts: svc.restarts,
			Started:  svc.started,
			LastExit: svc.lastExit,
			TTY:      svc.cfg.TTY,
		}
		if svc.proc != nil {
			st.PID = svc.proc.Pid
		}
		svc.mu.Unlock()
		out = append(out, st)
	}
	return out
}

// Logs returns the log buffer of the named service, or nil.
func (s *Supervisor) Logs(name string) *LogBuffer {
	if svc := s.byName[name]; svc != nil {
		return svc.logs
	}
	return nil
}

// Names returns the service names in start order.
func (s *Supervisor) Names() []string {
	names := make([]string, len(s.services))
	for i, svc := range s.services {
		names[i] = svc.cfg.Name
	}
	return names
}

func (svc *service) setState(st State) {
	svc.mu.Lock()
	svc.state = st
	svc.mu.Unlock()
}

// signal sends sig to the service's process group; it reports whether a
// process was running. Without a process (it is being started), the
// signal is remembered and runOnce delivers it as soon as the process
// exists, so neither Stop's SIGTERM nor its deadline's SIGKILL is lost.
// SIGTERM marks the service stopping, under the same lock, so the state
// cannot overwrite the "stopped" of a process that exits at once.
func (svc *service) signal(sig syscall.Signal) bool {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if sig == syscall.SIGKILL || svc.want == 0 {
		svc.want = sig
	}
	if svc.proc == nil {
		return false
	}
	if sig == syscall.SIGTERM {
		svc.state = StateStopping
	}
	// Every service runs in its own process group (Setpgid or Setsid), so
	// the negative pid reaches the children it started too. proc is
	// cleared before the process is reaped, so the id is not reused yet.
	if err := syscall.Kill(-svc.proc.Pid, sig); err != nil {
		_ = svc.proc.Signal(sig)
	}
	return true
}

func (svc *service) stopping() bool {
	select {
	case <-svc.stop:
		return true
	default:
		return false
	}
}

// run is the life of one service: wait for dependencies, then start,
// wait, and restart with back-off until the policy or Stop says otherwise.
// A panic in the supervision (a bug, or a logger that fails) is reported,
// recorded as the service's last exit, and supervision goes on after the
// longest back-off: the supervisor may be PID 1, which must not die.
func (s *Supervisor) run(ctx context.Context, svc *service) {
	defer close(svc.done)
	for s.superviseSafely(ctx, svc) {
		svc.setState(StateBackoff)
		t := time.NewTimer(time.Duration(svc.cfg.Backoff.Max))
		select {
		case <-t.C:
			svc.mu.Lock()
			svc.restarts++
			svc.mu.Unlock()
		case <-svc.stop:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// superviseSafely runs supervise and reports whether it ended in a panic
// after which supervision should resume.
func (s *Supervisor) superviseSafely(ctx context.Context, svc *service) (resume bool) {
	defer func() {
		if r := recover(); r != nil {
			s.reportPanic(fmt.Sprintf("supervising service %q", svc.cfg.Name), r)
			msg := fmt.Sprintf("supervisor panic: %v", r)
			fmt.Fprintf(svc.logs, "ainative: %s\n", msg)
			svc.mu.Lock()
			svc.lastExit = msg
			svc.mu.Unlock()
			resume = !svc.stopping() && ctx.Err() == nil
			if !resume {
				svc.setState(StateStopped)
			}
		}
	}()
	s.supervise(ctx, svc)
	return false
}

func (s *Supervisor) supervise(ctx context.Context, svc *service) {
	log := s.log.With("service", svc.cfg.Name)
	for _, dep := range svc.deps {
		select {
		case <-dep.up:
		case <-svc.stop:
			svc.setState(StateStopped)
			return
		case <-ctx.Done():
			svc.setState(StateStopped)
			return
		}
	}
	delay := time.Duration(svc.cfg.Backoff.Initial)
	for attempt := 0; ; attempt++ {
		if svc.stopping() || ctx.Err() != nil {
			svc.setState(StateStopped)
			return
		}
		if attempt > 0 {
			svc.mu.Lock()
			svc.restarts++
			svc.mu.Unlock()
		}
		began := time.Now()
		status, err := s.runOnce(ctx, svc, log)
		ran := time.Since(began)
		svc.mu.Lock()
		svc.lastExit = status
		svc.mu.Unlock()
		if svc.stopping() || ctx.Err() != nil {
			svc.setState(StateStopped)
			return
		}
		failed := err != nil
		switch {
		case svc.cfg.Restart == RestartNever,
			svc.cfg.Restart == RestartOnFailure && !failed:
			log.Info("service exited; not restarting", "status", status, "restart", svc.cfg.Restart)
			svc.setState(StateExited)
			return
		}
		if ran >= time.Duration(svc.cfg.Backoff.StableAfter) {
			delay = time.Duration(svc.cfg.Backoff.Initial)
		}
		log.Warn("service exited; restarting", "status", status, "after", delay)
		svc.setState(StateBackoff)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-svc.stop:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
		}
		delay = min(2*delay, time.Duration(svc.cfg.Backoff.Max))
	}
}

// runOnce starts the process and waits for it. It returns a description
// of how it ended and a non-nil error when that counts as a failure.
func (s *Supervisor) runOnce(ctx context.Context, svc *service, log *slog.Logger) (string, error) {
	cmd, closeTTY, err := s.command(svc)
	if err == nil {
		err = s.startProcess(cmd)
		closeTTY()
	}
	if err != nil {
		msg := fmt.Sprintf("start failed: %v", err)
		fmt.Fprintf(svc.logs, "ainative: %s\n", msg)
		log.Error("service failed to start", "err", err)
		return msg, err
	}
	pid := cmd.Process.Pid
	waited := false
	defer func() {
		if !waited {
			// A panic below: leave no process unsupervised. It is not
			// reaped yet, so its id still names its group.
			killGroup(pid)
			s.endProcess(svc, cmd)
		}
	}()
	svc.mu.Lock()
	svc.proc = cmd.Process
	svc.state = StateRunning
	svc.started = time.Now()
	pending := svc.want
	svc.mu.Unlock()
	svc.upOnce.Do(func() { close(svc.up) })
	if pending != 0 {
		// Stop came while the process was starting and found no
		// process to signal.
		svc.signal(pending)
	}
	log.Info("service started", "pid", pid)

	err = s.endProcess(svc, cmd)
	waited = true
	status := exitDescription(cmd.ProcessState, err)
	fmt.Fprintf(svc.logs, "ainative: process %d %s\n", pid, status)
	if cmd.ProcessState != nil && cmd.ProcessState.Success() {
		return status, nil
	}
	return status, fmt.Errorf("%s", status)
}

// killGroup sends SIGKILL to a process group; a variable for tests.
var killGroup = func(pgid int) { _ = syscall.Kill(-pgid, syscall.SIGKILL) }

// endProcess waits for the service's process to exit, kills what it left
// in its process group, and reaps it. Like systemd's control-group kill
// mode, children left behind die with the main process, so a restart
// starts clean. The group is killed while the process is still an
// unreaped zombie, whose id the kernel cannot give to another process:
// after reaping, the same number could name an unrelated group.
func (s *Supervisor) endProcess(svc *service, cmd *exec.Cmd) error {
	pid := cmd.Process.Pid
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			break // ECHILD and the like: Wait below reports it
		}
	}
	killGroup(pid)
	svc.mu.Lock()
	svc.proc = nil // from now on signal does not use the id
	svc.mu.Unlock()
	err := cmd.Wait()
	if s.reaper != nil {
		s.reaper.forget(pid)
	}
	return err
}

func (s *Supervisor) startProcess(cmd *exec.Cmd) error {
	if s.reaper != nil {
		return s.reaper.start(cmd)
	}
	return cmd.Start()
}

// exitDescription says how a process ended, e.g. "exited with status 2" or
// "killed by signal killed".
func exitDescription(ps *os.ProcessState, err error) string {
	if ps == nil {
		if err != nil {
			return "wait failed: " + err.Error()
		}
		return "unknown"
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by signal " + ws.Signal().String()
	}
	return "exited with status " + strconv.Itoa(ps.ExitCode())
}

// command builds the exec.Cmd for one start of svc. closeTTY closes the
// terminal file in the parent once the child has it.
func (s *Supervisor) command(svc *service) (cmd *exec.Cmd, closeTTY func(), err error) {
	c := svc.cfg
	closeTTY = func() {}
	path := c.Command[0]
	if path == "ainative" && s.self != "" {
		path = s.self
	} else if !strings.Contains(path, "/") {
		if path, err = lookPath(path, s.env); err != nil {
			return nil, closeTTY, err
		}
	}
	cmd = &exec.Cmd{
		Path: path,
		Args: c.Command,
		Env:  mergeEnv(s.env, c.Env),
		Dir:  c.Dir,
		// Wait must not hang on a grandchild that keeps the output
		// pipe open after the main process is gone.
		WaitDelay: time.Second,
	}
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	// Checked here, or a missing directory reads as the command missing
	// ("fork/exec /usr/bin/sleep: no such file or directory").
	if fi, err := os.Stat(cmd.Dir); errors.Is(err, os.ErrNotExist) {
		return nil, closeTTY, fmt.Errorf("working directory %q does not exist", cmd.Dir)
	} else if err != nil {
		return nil, closeTTY, fmt.Errorf("working directory: %w", err)
	} else if !fi.IsDir() {
		return nil, closeTTY, fmt.Errorf("working directory %q is not a directory", cmd.Dir)
	}
	attr := &syscall.SysProcAttr{Setpgid: true}
	if c.User != "" {
		cred, err := lookupUser(c.User)
		if err != nil {
			return nil, closeTTY, err
		}
		attr.Credential = cred
	}
	if c.TTY != "" {
		tty, err := os.OpenFile(c.TTY, os.O_RDWR|syscall.O_NOCTTY, 0)
		if err != nil {
			return nil, closeTTY, err
		}
		closeTTY = func() { tty.Close() }
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		// A new session with the terminal as its controlling tty, so ^C
		// reaches the shell's foreground job and not PID 1.
		attr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Credential: attr.Credential}
	} else {
		cmd.Stdout, cmd.Stderr = svc.logs, svc.logs
	}
	cmd.SysProcAttr = attr
	return cmd, closeTTY, nil
}

// lookPath finds file in the PATH of env (not the supervisor's own PATH,
// which may differ on a host).
func lookPath(file string, env []string) (string, error) {
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + file
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%q not found in PATH %q", file, path)
}

// mergeEnv returns base with the variables of extra added or replaced, in
// a stable order.
func mergeEnv(base []string, extra map[string]string) []string {
	if len(extra) == 0 {
		return base
	}
	out := make([]string, 0, len(base)+len(extra))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := extra[k]; !ok {
			out = append(out, kv)
		}
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+extra[k])
	}
	return out
}

// lookupUser resolves "uid[:gid]" or a user name.
func lookupUser(spec string) (*syscall.Credential, error) {
	uidStr, gidStr, hasGID := strings.Cut(spec, ":")
	if uid, err := strconv.ParseUint(uidStr, 10, 32); err == nil {
		gid := uid
		if hasGID {
			g, err := strconv.ParseUint(gidStr, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("user %q: gid %q is not a number", spec, gidStr)
			}
			gid = g
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	u, err := user.Lookup(uidStr)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", spec, err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
