package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// Background jobs of the interactive shell. The interpreter runs `cmd &`
// in a goroutine bound to the context of the command line that started
// it, so the job would die when the line ends, and it offers no job
// table. The interactive shell therefore runs each background statement
// of a command line itself, in a copy of the runner, as a job:
//
//   - its standard input is /dev/null, as POSIX asks of a shell without
//     job control, so that it cannot steal what is typed at the prompt;
//   - its programs run in process groups of their own, so that ^C at the
//     terminal does not reach them;
//   - `jobs` lists the jobs, `wait [%N]` waits for them, `kill [-SIG] %N`
//     signals them (and stops the job's own loops and built-ins), and the
//     prompt reports the ones that ended.
//
// fg, bg and ^Z are not provided: a job is mostly the interpreter's own
// goroutines (loops, functions, built-ins), which cannot be stopped and
// resumed as a unit, and taking the terminal from the shell for a job
// (tcsetpgrp) would leave the line editor and the job fighting over it.
// Scripts (sh -c, files) keep the interpreter's own `&`, `wait` and `$!`.

// jobKey marks the context of a job's statement; its value is the *job.
type jobKey struct{}

// job is one background statement.
type job struct {
	id     int
	text   string
	cancel context.CancelFunc
	done   chan struct{}
	status int // set before done is closed

	mu       sync.Mutex
	pids     map[int]bool // its programs now running: process group leaders
	reported bool         // its end was shown at a prompt
}

func (j *job) addPid(pid int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.pids == nil {
		j.pids = map[int]bool{}
	}
	j.pids[pid] = true
}

func (j *job) removePid(pid int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.pids, pid)
}

// signal sends sig to the process groups of the job's programs, and for
// a signal that ends programs, stops the job's statement too (its loops
// and built-ins are goroutines: no signal reaches them).
func (j *job) signal(sig syscall.Signal) error {
	j.mu.Lock()
	var err error
	for pid := range j.pids {
		if e := syscall.Kill(-pid, sig); e != nil && !errors.Is(e, syscall.ESRCH) {
			err = e
		}
	}
	j.mu.Unlock()
	switch sig {
	case syscall.SIGTERM, syscall.SIGKILL, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT:
		j.cancel()
	}
	return err
}

func (j *job) finished() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

// state is the job's state in bash's words.
func (j *job) state() string {
	switch {
	case !j.finished():
		return "Running"
	case j.status == 0:
		return "Done"
	case j.status > 128 && j.status < 128+65:
		name := syscall.Signal(j.status - 128).String()
		return strings.ToUpper(name[:1]) + name[1:]
	}
	return "Exit " + strconv.Itoa(j.status)
}

// jobTable holds a shell's jobs; numbers restart at 1 once all ended.
type jobTable struct {
	mu   sync.Mutex
	list []*job
}

func (t *jobTable) add(j *job) {
	t.mu.Lock()
	defer t.mu.Unlock()
	j.id = 1
	for _, o := range t.list {
		j.id = max(j.id, o.id+1)
	}
	t.list = append(t.list, j)
}

// get returns the job of a job spec: %N, %% or %+ (the latest).
func (t *jobTable) get(spec string) (*job, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rest, ok := strings.CutPrefix(spec, "%")
	if !ok {
		return nil, errors.New("not a job spec")
	}
	if rest == "%" || rest == "+" || rest == "" {
		if len(t.list) == 0 {
			return nil, errors.New("no current job")
		}
		return t.list[len(t.list)-1], nil
	}
	n, err := strconv.Atoi(rest)
	if err == nil {
		for _, j := range t.list {
			if j.id == n {
				return j, nil
			}
		}
	}
	return nil, errors.New("no such job")
}

func (t *jobTable) all() []*job {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*job(nil), t.list...)
}

// report writes the jobs that ended since the last report and forgets
// them, as bash does before a prompt.
func (t *jobTable) report(w io.Writer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	kept := t.list[:0]
	for _, j := range t.list {
		if !j.finished() {
			kept = append(kept, j)
			continue
		}
		j.mu.Lock()
		reported := j.reported
		j.mu.Unlock()
		if !reported {
			fmt.Fprintf(w, "[%d]  %-22s %s\n", j.id, j.state(), j.text)
		}
	}
	clear(t.list[len(kept):])
	t.list = kept
}

// stopAll ends every job (the shell is exiting) and waits for them.
func (t *jobTable) stopAll() {
	for _, j := range t.all() {
		j.signal(syscall.SIGTERM)
		<-j.done
	}
}

// startJob runs st, a background statement, as a job bound to ctx (the
// shell's, not the command line's) and announces it on w.
func (s *Shell) startJob(ctx context.Context, st *syntax.Stmt, w io.Writer) {
	fg := *st
	fg.Background, fg.Disown = false, false
	var text strings.Builder
	syntax.NewPrinter(syntax.SingleLine(true)).Print(&text, &fg)

	r := s.runner.Subshell()
	// StdIO fails only to make a pipe for a reader that is no *os.File.
	var stdin io.Reader
	devNull := openDevNull()
	if devNull != nil {
		stdin = devNull
	}
	_ = interp.StdIO(stdin, s.opts.Stdout, s.opts.Stderr)(r)
	j := &job{text: text.String(), done: make(chan struct{})}
	ctx, j.cancel = context.WithCancel(context.WithValue(ctx, jobKey{}, j))
	s.jobs.add(j)
	fmt.Fprintf(w, "[%d] %s\n", j.id, j.text)
	go func() {
		defer j.cancel()
		if devNull != nil {
			defer devNull.Close()
		}
		err := r.Run(ctx, &fg)
		j.status = Status(err)
		if ctx.Err() != nil {
			j.status = 128 + int(syscall.SIGTERM) // stopped by kill %N
		}
		close(j.done)
	}()
}

// jobExec runs the programs of a job in process groups of their own, so
// that ^C typed for the foreground does not reach them (save one typed
// in the instant between fork and setpgid, as in any shell), and
// records them for `kill %N`. Outside jobs it passes the call on.
func (s *Shell) jobExec(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
	return func(ctx context.Context, args []string) error {
		j, _ := ctx.Value(jobKey{}).(*job)
		if j == nil {
			return next(ctx, args)
		}
		hc := interp.HandlerCtx(ctx)
		path, err := interp.LookPathDir(hc.Dir, hc.Env, args[0])
		if err != nil {
			fmt.Fprintln(hc.Stderr, err)
			return interp.ExitStatus(127)
		}
		cmd := exec.Command(path)
		cmd.Args = args
		cmd.Env = exportedEnv(hc.Env)
		cmd.Dir = hc.Dir
		cmd.Stdin, cmd.Stdout, cmd.Stderr = hc.Stdin, hc.Stdout, hc.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(hc.Stderr, err)
			return interp.ExitStatus(126)
		}
		pid := cmd.Process.Pid
		j.addPid(pid)
		stop := context.AfterFunc(ctx, func() { syscall.Kill(-pid, syscall.SIGTERM) })
		err = cmd.Wait()
		stop()
		j.removePid(pid)
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return interp.ExitStatus(128 + int(ws.Signal()))
			}
			return interp.ExitStatus(ee.ExitCode())
		}
		return err
	}
}

// exportedEnv is the environment a program gets: the exported variables.
func exportedEnv(env expand.Environ) []string {
	var list []string
	env.Each(func(name string, vr expand.Variable) bool {
		if vr.Exported && vr.IsSet() && vr.Kind == expand.String {
			list = append(list, name+"="+vr.Str)
		}
		return true
	})
	return list
}

// Job control built-ins: the interpreter's are renamed to reach these
// (see overridden).

func (s *Shell) jobsCmd(e *Env, args []string) error {
	if len(args) > 0 {
		return usage(e, "jobs")
	}
	for _, j := range s.jobs.all() {
		fmt.Fprintf(e.Stdout, "[%d]  %-22s %s\n", j.id, j.state(), j.text)
		if j.finished() {
			j.mu.Lock()
			j.reported = true
			j.mu.Unlock()
		}
	}
	return nil
}

// waitCmd waits for jobs given as %N (all of them with no arguments),
// and hands anything else, and the interpreter's own background
// statements, to the interpreter's wait.
func (s *Shell) waitCmd(e *Env, args []string) error {
	ctx := e.Ctx
	var rest []string
	status := 0
	wait := func(j *job) error {
		select {
		case <-j.done:
			status = j.status
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if len(args) == 0 {
		for _, j := range s.jobs.all() {
			if err := wait(j); err != nil {
				return err
			}
		}
		status = 0 // wait with no arguments: 0, as in bash
	}
	for _, a := range args {
		if !strings.HasPrefix(a, "%") {
			rest = append(rest, a)
			continue
		}
		j, err := s.jobs.get(a)
		if err != nil {
			fmt.Fprintf(e.Stderr, "wait: %s: %v\n", a, err)
			status = 127
			continue
		}
		if err := wait(j); err != nil {
			return err
		}
	}
	if len(rest) > 0 || len(args) == 0 {
		if err := interp.HandlerCtx(ctx).Builtin(ctx, append([]string{"wait"}, rest...)); err != nil {
			return interpStatus{err}
		}
	}
	if status != 0 {
		return interp.ExitStatus(status)
	}
	return nil
}

// interpStatus carries the status of an interpreter built-in called by
// one of ours back to the interpreter as it is.
type interpStatus struct{ err error }

func (e interpStatus) Error() string { return e.err.Error() }

func noJobControl(e *Env, args []string) error {
	return errors.New("no job control in this shell: jobs run in the background until they end (wait %N, kill %N)")
}

// openDevNull opens /dev/null for the jobs' standard input.
func openDevNull() *os.File {
	f, err := os.Open(os.DevNull)
	if err != nil {
		return nil // the jobs then get no standard input at all
	}
	return f
}
