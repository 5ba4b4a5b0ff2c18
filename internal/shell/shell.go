// Package shell is ainative's console shell: POSIX/bash syntax interpreted
// in-process by mvdan.cc/sh/v3, line editing from golang.org/x/term (with
// persistent history, ^R and Tab added here, see editor.go), background
// jobs (jobs.go), and a small set of built-in utilities (ls, cat, ps,
// free, mount, dmesg, ...) because the image holds no binaries but
// ainative itself. Commands that are not built in run as processes found
// in $PATH, where the image links every ainative subcommand, and on a host
// a subcommand name (generate, hw, ...) runs this binary.
//
// The AI helpers (ai.go) reach the runtime through the public client
// package, and the interactive shell joins the AI bus (bus.go) through
// client/bus, like any other program.
package shell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/term"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// Options configures a shell.
type Options struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Env is the initial environment; nil means os.Environ().
	Env []string
	// Dir is the initial working directory; empty means the current one.
	Dir string
	// Args are the positional parameters ($1...).
	Args []string
	// Self is the ainative binary, run for a command named "ainative" or
	// one of Subcommands when $PATH has no such program. Empty means
	// os.Executable().
	Self string
	// Subcommands are the ainative subcommand names to make available as
	// commands (e.g. "generate").
	Subcommands []string
	// Guard makes the interactive shell warn before running a typed
	// command line that the risk classifier rates high, and ask first.
	Guard bool
}

// Shell is one shell session: its variables, functions and working
// directory persist across the commands it runs.
type Shell struct {
	opts   Options
	runner *interp.Runner
	parser *syntax.Parser
	jobs   jobTable
	// own are the built-ins that need the shell itself (its jobs).
	own map[string]func(e *Env, args []string) error

	// The interactive command line running, if any, and how many of its
	// programs are running in the foreground (see foreground).
	line    atomic.Pointer[lineState]
	running atomic.Int32
	// The interactive history, for the history built-in.
	hist atomic.Pointer[history]
	// The AI assistant's state (see ai.go).
	ai aiState
	// The interactive shell's link to the bus, if it runs (see bus.go).
	bus *busAgent
}

// New returns a shell with the built-in utilities installed.
func New(opts Options) (*Shell, error) {
	if opts.Stdin == nil {
		opts.Stdin = os.Stdin
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Env == nil {
		opts.Env = os.Environ()
	}
	if opts.Self == "" {
		if exe, err := os.Executable(); err == nil {
			opts.Self = exe
		}
	}
	s := &Shell{opts: opts, parser: syntax.NewParser()}
	s.own = map[string]func(*Env, []string) error{
		"jobs": s.jobsCmd, "wait": s.waitCmd, "fg": noJobControl, "bg": noJobControl,
		"history": s.historyCmd, "ai": s.aiCmd,
	}
	s.ai.history = defaultAIHistory
	if v, ok := lookupEnv(opts.Env, "AINATIVE_AI"); ok && v == "off" {
		s.ai.off = true
	}
	runnerOpts := []interp.RunnerOption{
		interp.StdIO(opts.Stdin, opts.Stdout, opts.Stderr),
		interp.Env(expand.ListEnviron(opts.Env...)),
		interp.CallHandler(callHandler),
		interp.ExecHandlers(s.builtinHandler, s.selfHandler, s.jobExec, s.foreground),
		interp.Params(append([]string{"--"}, opts.Args...)...),
	}
	if opts.Dir != "" {
		runnerOpts = append(runnerOpts, interp.Dir(opts.Dir))
	}
	r, err := interp.New(runnerOpts...)
	if err != nil {
		return nil, err
	}
	s.runner = r
	return s, nil
}

// Status converts the error of a run into an exit status: nil is 0, an
// interp.ExitStatus its value, anything else 1.
func Status(err error) int {
	if err == nil {
		return 0
	}
	var es interp.ExitStatus
	if errors.As(err, &es) {
		return int(es)
	}
	return 1
}

// RunString runs src (as `sh -c`); name is used in error positions.
func (s *Shell) RunString(ctx context.Context, src, name string) error {
	f, err := s.parser.Parse(strings.NewReader(src), name)
	if err != nil {
		fmt.Fprintln(s.opts.Stderr, err)
		return interp.ExitStatus(2)
	}
	return s.runner.Run(ctx, f)
}

// RunFile runs the script at path.
func (s *Shell) RunFile(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(s.opts.Stderr, err)
		return interp.ExitStatus(127)
	}
	defer f.Close()
	prog, err := s.parser.Parse(f, path)
	if err != nil {
		fmt.Fprintln(s.opts.Stderr, err)
		return interp.ExitStatus(2)
	}
	return s.runner.Run(ctx, prog)
}

// RunReader runs commands from r as they arrive, statement by statement
// (`sh` with a pipe or file on standard input).
func (s *Shell) RunReader(ctx context.Context, r io.Reader) error {
	var runErr error
	err := s.parser.Interactive(r, func(stmts []*syntax.Stmt) bool {
		for _, st := range stmts {
			runErr = s.runner.Run(ctx, st)
			if s.runner.Exited() {
				return false
			}
		}
		return true
	})
	if err != nil {
		fmt.Fprintln(s.opts.Stderr, err)
		return interp.ExitStatus(2)
	}
	return runErr
}

// Interactive reads, edits and runs command lines from the terminal tty
// until `exit` or end of input (^D on an empty line), after running
// ~/.ainativerc. ^C abandons the line being edited, or interrupts the
// command line that is running: loops, functions and built-in utilities
// stop, and an external command gets SIGINT from the terminal itself;
// background jobs go on. Jobs still running when it returns are ended.
func (s *Shell) Interactive(ctx context.Context, tty *os.File) error {
	fd := int(tty.Fd())
	if !term.IsTerminal(fd) {
		return s.RunReader(ctx, tty)
	}
	// The shell itself must survive ^C; catching (not ignoring) SIGINT
	// keeps the default disposition for the programs it starts.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT)
	defer signal.Stop(sigs)

	in := &interruptReader{r: tty, fd: fd, wake: -1}
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{in, tty}, "")
	if w, h, err := term.GetSize(fd); err == nil && w > 0 {
		t.SetSize(w, h)
	}
	lastErr := s.runRC(ctx, sigs, tty)
	if s.runner.Exited() {
		return lastErr
	}
	hist, err := openHistory(s.historyPath())
	if err != nil {
		fmt.Fprintf(tty, "ainative sh: history not saved: %v\n", err)
	}
	defer hist.Close()
	s.hist.Store(hist)
	defer s.hist.Store(nil)
	t.History = hist
	ed := &editor{s: s, hist: hist, out: t}
	t.AutoCompleteCallback = parkKey(in, ed.key)
	if b, err := s.joinBus(ctx); err == nil {
		defer b.stop()
		s.bus = b
		in.wake = b.wake[0]
	}
	var pending strings.Builder
	defer s.jobs.stopAll()
	for {
		if pending.Len() == 0 {
			s.jobs.report(tty)
			if s.bus != nil {
				s.bus.update()
			}
			t.SetPrompt(s.prompt(Status(lastErr)))
		} else {
			t.SetPrompt("> ")
		}
		old, err := term.MakeRaw(fd)
		if err != nil {
			return fmt.Errorf("terminal: %w", err)
		}
		in.armed = true
		line, err := t.ReadLine()
		in.armed = false
		term.Restore(fd, old)
		if parked, ok := in.unpark(); ok {
			s.bus.answerConsent(t, fd, tty, in)
			in.out = append(in.out, parked...)
			continue
		}
		if in.interrupted() {
			s.ai.discard()
			pending.Reset()
			lastErr = s.setStatus(ctx, 130) // as bash: ^C at the prompt is a status too
			continue
		}
		if err == io.EOF {
			fmt.Fprintln(tty)
			return lastErr
		}
		if err != nil {
			return err
		}
		if pending.Len() == 0 && s.aiLine(ctx, sigs, tty, in, line) {
			continue
		}
		pending.WriteString(line)
		pending.WriteByte('\n')
		prog, err := s.parser.Parse(strings.NewReader(pending.String()), "")
		if err != nil {
			if syntax.IsIncomplete(err) {
				continue
			}
			fmt.Fprintln(tty, err)
			pending.Reset()
			continue
		}
		src := pending.String()
		pending.Reset()
		if !s.confirm(t, fd, tty, src) {
			lastErr = s.setStatus(ctx, 1)
			continue
		}
		lastErr = s.runLine(ctx, sigs, tty, prog.Stmts)
		s.ai.record(src, Status(lastErr))
		if s.runner.Exited() {
			return lastErr
		}
	}
}

// lineState is the interruption state of the command line running.
type lineState struct {
	cancel      context.CancelFunc
	interrupted atomic.Bool
	childSIGINT atomic.Bool // a program of the line died of SIGINT
}

func (l *lineState) interrupt() {
	l.interrupted.Store(true)
	l.cancel()
}

// runLine runs the statements of one command line. ^C (SIGINT) stops
// the statement running, and the rest of the line, and returns to the
// prompt with status 130, as bash does; so does calling a function past
// the nesting limit, with status 1. Neither ends the shell.
//
// While programs run in the foreground, ^C is theirs: the terminal sends
// them SIGINT too, and one that handles it (an editor, a REPL) must not
// be stopped by the shell. As in bash, the line is interrupted once they
// have ended if one of them died of that SIGINT. (A ^C that comes while
// the shell is starting a program, before the program exists, may be
// lost.)
func (s *Shell) runLine(ctx context.Context, sigs <-chan os.Signal, tty io.Writer, stmts []*syntax.Stmt) error {
	// A ^C from before this line (a program's own, say) is not for it.
	for len(sigs) > 0 {
		<-sigs
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	line := &lineState{cancel: cancel}
	s.line.Store(line)
	defer s.line.Store(nil)
	stop := make(chan struct{})
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		for {
			select {
			case <-sigs:
				if s.running.Load() == 0 {
					line.interrupt()
					return
				}
			case <-stop:
				return
			}
		}
	}()
	var err error
	for _, st := range stmts {
		if st.Background || st.Disown {
			s.startJob(parent, st, tty)
			continue
		}
		err = s.runner.Run(ctx, st)
		if line.interrupted.Load() || s.runner.Exited() || errors.Is(err, errNesting) {
			break
		}
	}
	close(stop)
	<-watching
	switch {
	case parent.Err() != nil:
		return err
	case line.interrupted.Load():
		fmt.Fprintln(tty)
		return s.setStatus(parent, 130)
	case errors.Is(err, errNesting):
		return s.setStatus(parent, 1)
	}
	return err
}

// foreground runs a program of the interactive command line (see
// runLine): it counts the programs running, and interrupts the line
// when the last has ended if one died of SIGINT.
func (s *Shell) foreground(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
	return func(ctx context.Context, args []string) error {
		line := s.line.Load()
		if line == nil {
			return next(ctx, args)
		}
		s.running.Add(1)
		err := next(ctx, args)
		if Status(err) == 128+int(syscall.SIGINT) {
			line.childSIGINT.Store(true)
		}
		if s.running.Add(-1) == 0 && line.childSIGINT.Load() {
			line.interrupt()
		}
		return err
	}
}

// setStatus sets $? after a command line that was cut short, which the
// interpreter records as a fatal exit, and returns it as an error.
func (s *Shell) setStatus(ctx context.Context, status int) error {
	return s.runner.Run(ctx, &syntax.Subshell{Stmts: []*syntax.Stmt{{Cmd: &syntax.CallExpr{
		Args: []*syntax.Word{lit("exit"), lit(strconv.Itoa(status))}}}}})
}

func lit(s string) *syntax.Word { return &syntax.Word{Parts: []syntax.WordPart{&syntax.Lit{Value: s}}} }

// runRC runs ~/.ainativerc, if there is one, in the interactive shell
// (as bash does ~/.bashrc): aliases, functions, variables, options. It
// runs as a command line typed at the prompt: ^C stops it, and `exit`
// ends the shell.
func (s *Shell) runRC(ctx context.Context, sigs <-chan os.Signal, tty io.Writer) error {
	home := s.getVar("HOME")
	if home == "" {
		return nil
	}
	path := filepath.Join(home, ".ainativerc")
	f, err := os.Open(path)
	if err != nil {
		if !os.IsNotExist(err) {
			fmt.Fprintf(tty, "ainative sh: %v\n", err)
		}
		return nil
	}
	defer f.Close()
	prog, err := s.parser.Parse(f, path)
	if err != nil {
		fmt.Fprintln(tty, err)
		return interp.ExitStatus(2)
	}
	return s.runLine(ctx, sigs, tty, prog.Stmts)
}

// prompt is "host:dir$ " (# for root), with the status of the last
// command line when it failed: "host:dir [1]$ ".
func (s *Shell) prompt(status int) string {
	host, _ := os.Hostname()
	dir := s.runner.Dir
	if home := os.Getenv("HOME"); home != "" && home != "/" {
		if rest, ok := strings.CutPrefix(dir, home); ok && (rest == "" || rest[0] == '/') {
			dir = "~" + rest
		}
	}
	sign := "$ "
	if os.Geteuid() == 0 {
		sign = "# "
	}
	if status != 0 {
		sign = fmt.Sprintf(" [%d]%s", status, sign)
	}
	return host + ":" + dir + sign
}

// interruptReader turns ^C typed at the prompt into ^U and Enter (clear
// the line and return it), and remembers it: x/term's ReadLine reports ^C
// as io.EOF, which would end the shell. It also turns Alt-B and Alt-F as
// most terminals send them (ESC b, ESC f) into the Alt-arrows that
// x/term knows (word left, word right).
type interruptReader struct {
	r    io.Reader
	intr bool
	raw  []byte // read, not yet looked at
	out  []byte // looked at, not yet handed out

	// A byte in wake, while armed, interrupts the wait for keys at the
	// prompt (see bus.go): fd is the terminal's.
	fd          int
	wake        int // -1: none
	armed, woke bool
	parked      string
}

var altKeys = strings.NewReplacer("\x1bb", "\x1b[1;3D", "\x1bf", "\x1b[1;3C")

func (ir *interruptReader) Read(p []byte) (int, error) {
	if len(ir.out) == 0 {
		if len(ir.raw) == 0 && ir.wakeRead() {
			n := copy(p, ir.out)
			ir.out = ir.out[n:]
			return n, nil
		}
		if len(ir.raw) == 0 {
			buf := make([]byte, 256)
			n, err := ir.r.Read(buf)
			if n == 0 {
				return 0, err
			}
			ir.raw = buf[:n]
		}
		// Hand out no further than a ^C: what follows is for the next
		// line, after the shell has seen this one interrupted.
		if i := bytes.IndexByte(ir.raw, 3); i >= 0 {
			ir.intr = true
			ir.out = append([]byte(altKeys.Replace(string(ir.raw[:i]))), 0x15, '\r')
			ir.raw = ir.raw[i+1:]
		} else {
			ir.out = []byte(altKeys.Replace(string(ir.raw)))
			ir.raw = nil
		}
	}
	n := copy(p, ir.out)
	ir.out = ir.out[n:]
	return n, nil
}

func (ir *interruptReader) interrupted() bool {
	v := ir.intr
	ir.intr = false
	return v
}

// selfHandler runs "ainative ..." and bare subcommand names with this
// binary when $PATH does not provide them.
func (s *Shell) selfHandler(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
	return func(ctx context.Context, args []string) error {
		hc := interp.HandlerCtx(ctx)
		if s.opts.Self != "" {
			if _, err := interp.LookPathDir(hc.Dir, hc.Env, args[0]); err != nil {
				if args[0] == "ainative" {
					return next(ctx, append([]string{s.opts.Self}, args[1:]...))
				}
				for _, sub := range s.opts.Subcommands {
					if args[0] == sub {
						return next(ctx, append([]string{s.opts.Self}, args...))
					}
				}
			}
		}
		return next(ctx, args)
	}
}

// overridden are the interpreter builtins it does not implement (it
// reports them as such) that a utility here replaces: the call is renamed
// so that it reaches builtinHandler instead.
var overridden = map[string]string{
	"kill": "kill\x00", "jobs": "jobs\x00", "wait": "wait\x00", "fg": "fg\x00", "bg": "bg\x00",
	"history": "history\x00",
}

// callHandler sees every command before it runs: it applies
// overridden and the function nesting limit.
func callHandler(ctx context.Context, args []string) ([]string, error) {
	if alt, ok := overridden[args[0]]; ok {
		args[0] = alt
	}
	return args, checkNesting(ctx, args)
}

// builtinHandler runs the built-in utilities in-process.
func (s *Shell) builtinHandler(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
	return func(ctx context.Context, args []string) error {
		name := strings.TrimSuffix(args[0], "\x00") // see overridden
		run, ok := s.own[name]
		if !ok {
			var b builtin
			b, ok = builtins[name]
			run = b.run
		}
		if !ok || strings.Contains(name, "/") {
			return next(ctx, args)
		}
		hc := interp.HandlerCtx(ctx)
		env := &Env{Ctx: ctx, Stdin: hc.Stdin, Stdout: hc.Stdout, Stderr: hc.Stderr, Dir: hc.Dir,
			Getenv: func(k string) string { return hc.Env.Get(k).String() }, jobs: &s.jobs}
		if err := run(env, args[1:]); err != nil {
			if ctx.Err() != nil {
				return interp.ExitStatus(130) // interrupted: ^C says enough
			}
			var is interpStatus
			if errors.As(err, &is) {
				return is.err
			}
			var es interp.ExitStatus
			if errors.As(err, &es) {
				return es
			}
			fmt.Fprintf(hc.Stderr, "%s: %v\n", name, err)
			return interp.ExitStatus(1)
		}
		return nil
	}
}

// Env is what a built-in utility sees: the shell's streams, working
// directory and variables.
type Env struct {
	Ctx            context.Context
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Dir            string
	Getenv         func(string) string
	jobs           *jobTable // for kill %N
}

// abs resolves p against the shell's working directory.
func (e *Env) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(e.Dir, p)
}

// lookupEnv finds name in a NAME=value list.
func lookupEnv(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v, true
		}
	}
	return "", false
}
