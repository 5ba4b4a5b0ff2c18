package shell

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/term"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"

	"github.com/raym33/ainative/client"
	"github.com/raym33/ainative/internal/risk"
)

// The AI assistant answers only lines that start with "?" and the `ai`
// built-in; every other line runs as in any shell, without touching the
// runtime. All it keeps (recent commands, the last failure) stays in
// memory, and everything it sends passes through the redactor first.

const (
	defaultAIHistory = 5
	maxRecent        = 50
	stderrTail       = 2048
)

// aiState is the assistant's per-session state.
type aiState struct {
	mu      sync.Mutex
	off     bool
	history int  // recent commands sent as context
	noCwd   bool // leave the working directory out of the context
	recent  []string
	failed  *failure
	tail    *tailWriter // non-nil while `ai stderr on`
	// proposal is the command the assistant put in the edit buffer.
	proposal string
}

type failure struct {
	command string
	status  int
	stderr  string
}

// tailWriter passes writes on and keeps the last stderrTail bytes.
type tailWriter struct {
	w   io.Writer
	mu  sync.Mutex
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > stderrTail {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-stderrTail:]...)
	}
	t.mu.Unlock()
	return t.w.Write(p)
}

func (t *tailWriter) take() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(t.buf)
	t.buf = nil
	return s
}

// record notes a command line that ran, for the context and for `?!`.
func (a *aiState) record(line string, status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	var tail string
	if a.tail != nil {
		tail = a.tail.take()
	}
	a.recent = append(a.recent, line)
	if len(a.recent) > maxRecent {
		a.recent = a.recent[len(a.recent)-maxRecent:]
	}
	if status != 0 && status != 130 {
		a.failed = &failure{command: line, status: status, stderr: tail}
	} else {
		a.failed = nil
	}
}

// discard forgets a proposal the user dismissed with ^C.
func (a *aiState) discard() {
	a.mu.Lock()
	a.proposal = ""
	a.mu.Unlock()
}

// aiCmd is the `ai` built-in: ai on|off|status|context|history N|cwd on|off|stderr on|off.
func (s *Shell) aiCmd(e *Env, args []string) error {
	a := &s.ai
	sub := "status"
	if len(args) > 0 {
		sub = args[0]
	}
	onOff := func() (bool, error) {
		if len(args) != 2 || (args[1] != "on" && args[1] != "off") {
			return false, fmt.Errorf("usage: ai %s on|off", sub)
		}
		return args[1] == "on", nil
	}
	switch sub {
	case "on", "off":
		a.mu.Lock()
		a.off = sub == "off"
		a.mu.Unlock()
	case "status":
		a.mu.Lock()
		state := "on"
		if a.off {
			state = "off"
		}
		a.mu.Unlock()
		model := s.getVar("AINATIVE_MODEL")
		if model == "" {
			model = "(none: export AINATIVE_MODEL=NAME)"
		}
		fmt.Fprintf(e.Stdout, "ai: %s, model %s\n", state, model)
	case "context":
		fmt.Fprint(e.Stdout, s.aiContext(""))
	case "history":
		n := -1
		if len(args) == 2 {
			n, _ = strconv.Atoi(args[1])
		}
		if n < 0 || n > maxRecent {
			return fmt.Errorf("usage: ai history N (0 to %d recent commands sent as context)", maxRecent)
		}
		a.mu.Lock()
		a.history = n
		a.mu.Unlock()
	case "cwd":
		on, err := onOff()
		if err != nil {
			return err
		}
		a.mu.Lock()
		a.noCwd = !on
		a.mu.Unlock()
	case "stderr":
		on, err := onOff()
		if err != nil {
			return err
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		// Keeping the tail of error output means programs write it
		// into a pipe rather than the terminal, so it is off by default.
		if on && a.tail == nil {
			a.tail = &tailWriter{w: s.opts.Stderr}
			return interp.StdIO(s.opts.Stdin, s.opts.Stdout, a.tail)(s.runner)
		}
		if !on && a.tail != nil {
			a.tail = nil
			return interp.StdIO(s.opts.Stdin, s.opts.Stdout, s.opts.Stderr)(s.runner)
		}
	default:
		return errors.New("usage: ai on|off|status|context|history N|cwd on|off|stderr on|off")
	}
	return nil
}

// aiContext is the text sent along with a request, after redaction;
// `ai context` prints it as is.
func (s *Shell) aiContext(extra string) string {
	a := &s.ai
	a.mu.Lock()
	var b strings.Builder
	if !a.noCwd {
		fmt.Fprintf(&b, "Working directory: %s\n", s.runner.Dir)
	}
	if n := min(a.history, len(a.recent)); n > 0 {
		b.WriteString("Recent commands:\n")
		for _, c := range a.recent[len(a.recent)-n:] {
			fmt.Fprintf(&b, "  %s\n", c)
		}
	}
	if f := a.failed; f != nil {
		fmt.Fprintf(&b, "Last failed command (status %d): %s\n", f.status, f.command)
		if f.stderr != "" {
			fmt.Fprintf(&b, "Its error output ended with:\n%s\n", strings.TrimRight(f.stderr, "\n"))
		}
	}
	a.mu.Unlock()
	b.WriteString(extra)
	return s.redactor().redact(b.String())
}

// redactor knows the secret values of the shell's current environment.
func (s *Shell) redactor() *redactor {
	var env []string
	s.runner.Env.Each(func(name string, vr expand.Variable) bool {
		if vr.IsSet() {
			env = append(env, name+"="+vr.String())
		}
		return true
	})
	for name, vr := range s.runner.Vars {
		if vr.IsSet() {
			env = append(env, name+"="+vr.String())
		}
	}
	return newRedactor(env)
}

// proposal is the answer format of `?` and `?!`, enforced by the
// runtime's constrained decoding.
type proposal struct {
	Command     string `json:"command"`
	Explanation string `json:"explanation"`
}

var proposalSchema = json.RawMessage(`{"type":"object","properties":{` +
	`"command":{"type":"string","minLength":1,"maxLength":300},` +
	`"explanation":{"type":"string","maxLength":200}},` +
	`"required":["command","explanation"],"additionalProperties":false}`)

const systemPrompt = "You are the assistant of a bash shell. Answer with one JSON object. " +
	"Propose a single command line the user can run; never claim to have run anything."

// aiLine handles a line starting with "?"; it reports whether the line
// was one. in is the editor's input, where a proposal is typed for the
// user to confirm, edit or discard.
func (s *Shell) aiLine(ctx context.Context, sigs <-chan os.Signal, tty io.Writer, in *interruptReader, line string) bool {
	text := strings.TrimSpace(line)
	if !strings.HasPrefix(text, "?") {
		return false
	}
	s.ai.mu.Lock()
	off := s.ai.off
	s.ai.mu.Unlock()
	if off {
		fmt.Fprintln(tty, "ai: off (type 'ai on' to use it)")
		return true
	}
	switch {
	case strings.HasPrefix(text, "??"):
		s.explain(ctx, sigs, tty, strings.TrimSpace(text[2:]))
	case strings.HasPrefix(text, "?!"):
		s.ai.mu.Lock()
		f := s.ai.failed
		s.ai.mu.Unlock()
		if f == nil {
			fmt.Fprintln(tty, "ai: no failed command to fix")
			return true
		}
		s.propose(ctx, sigs, tty, in, "The last command failed. Propose a corrected command line.")
	default:
		req := strings.TrimSpace(text[1:])
		if req == "" {
			fmt.Fprintln(tty, "usage: ? WHAT YOU WANT  |  ?? [COMMAND]  |  ?!")
			return true
		}
		s.propose(ctx, sigs, tty, in, "Request: "+req)
	}
	return true
}

// ask sends one chat request with the answer streamed to tty (dimmed) as
// it arrives; ^C cancels it. It returns the whole answer, or "" after
// printing why there is none.
func (s *Shell) ask(ctx context.Context, sigs <-chan os.Signal, tty io.Writer, user string, format json.RawMessage) string {
	model := s.getVar("AINATIVE_MODEL")
	if model == "" {
		fmt.Fprintln(tty, "ai: no model set: export AINATIVE_MODEL=NAME (see 'ainative list'), e.g. in ~/.ainativerc")
		return ""
	}
	var c *client.Client
	var err error
	if h := s.getVar("AINATIVE_HOST"); h != "" {
		c, err = client.New(h)
	} else {
		c, err = client.FromEnvironment()
	}
	if err != nil {
		fmt.Fprintln(tty, "ai:", err)
		return ""
	}
	for len(sigs) > 0 {
		<-sigs
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-sigs:
			cancel()
		case <-done:
		}
	}()
	defer func() { close(done); <-stopped }()
	redact := s.redactor()
	req := &client.ChatRequest{
		Model:  model,
		Format: format,
		Messages: []client.Message{
			{Role: "system", Content: systemPrompt},
			{Role: "user", Content: redact.redact(user)},
		},
	}
	var answer strings.Builder
	fmt.Fprint(tty, "\x1b[2m")
	err = c.Chat(ctx, req, func(r client.ChatResponse) error {
		answer.WriteString(r.Message.Content)
		_, werr := io.WriteString(tty, printable(r.Message.Content))
		return werr
	})
	fmt.Fprint(tty, "\x1b[0m\n")
	switch {
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintln(tty, "ai: cancelled")
		return ""
	case errors.Is(err, client.ErrNoRuntime):
		fmt.Fprintln(tty, "ai:", err)
		return ""
	case err != nil:
		fmt.Fprintf(tty, "ai: %s: %v\n", model, err)
		return ""
	}
	return answer.String()
}

// propose asks for a command and types it into the edit buffer with its
// explanation and risk above; it never runs it.
func (s *Shell) propose(ctx context.Context, sigs <-chan os.Signal, tty io.Writer, in *interruptReader, task string) {
	out := s.ask(ctx, sigs, tty, s.aiContext(task+"\n"), proposalSchema)
	if out == "" {
		return
	}
	var p proposal
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		fmt.Fprintf(tty, "ai: the answer is not a proposal: %v\n", err)
		return
	}
	// The proposal is typed into the editor as keys: control characters
	// in it (a carriage return, ^C, escapes) would act instead of showing.
	cmd := strings.Join(strings.Fields(printable(p.Command)), " ")
	if cmd == "" {
		fmt.Fprintln(tty, "ai: no command proposed")
		return
	}
	expl := strings.Join(strings.Fields(printable(p.Explanation)), " ")
	fmt.Fprintf(tty, "# %s\n", expl)
	v := s.classifier().Classify(cmd)
	fmt.Fprintln(tty, riskLine(v))
	if v.Level == risk.High {
		fmt.Fprintln(tty, "# high risk: Enter asks you to type yes before it runs")
	} else {
		fmt.Fprintln(tty, "# Enter runs it; edit it, or ^C to discard it")
	}
	s.ai.mu.Lock()
	s.ai.proposal = cmd
	s.ai.mu.Unlock()
	in.out = append(in.out, cmd...)
}

func riskLine(v risk.Verdict) string {
	if v.Level == risk.None {
		return "# risk: none"
	}
	return "# risk: " + v.Level.String() + ": " + strings.Join(v.Reasons, "; ")
}

// classifier knows the session's functions.
func (s *Shell) classifier() *risk.Classifier {
	c := &risk.Classifier{Functions: map[string]string{}}
	pr := syntax.NewPrinter()
	for name, body := range s.runner.Funcs {
		var b bytes.Buffer
		if pr.Print(&b, body) == nil {
			c.Functions[name] = b.String()
		}
	}
	return c
}

// confirm runs before a command line: a line that came from a proposal
// and is high risk needs "yes"; with --guard, a typed high-risk line is
// shown with its reasons and needs "y". It reports whether to run.
func (s *Shell) confirm(t *term.Terminal, fd int, tty io.Writer, line string) bool {
	s.ai.mu.Lock()
	proposed := s.ai.proposal != ""
	s.ai.proposal = ""
	s.ai.mu.Unlock()
	if !proposed && !s.opts.Guard {
		return true
	}
	v := s.classifier().Classify(line)
	if v.Level != risk.High {
		return true
	}
	prompt := "run it anyway? [y/N] "
	if proposed {
		prompt = "type yes to run it: "
	} else {
		fmt.Fprintln(tty, "ainative sh: warning:", strings.TrimPrefix(riskLine(v), "# "))
	}
	t.SetPrompt(prompt)
	old, err := term.MakeRaw(fd)
	if err != nil {
		return false
	}
	answer, err := t.ReadLine()
	term.Restore(fd, old)
	if err != nil {
		return false
	}
	answer = strings.TrimSpace(answer)
	if proposed {
		if answer != "yes" {
			fmt.Fprintln(tty, "not run")
			return false
		}
		return true
	}
	if answer != "y" && answer != "yes" {
		fmt.Fprintln(tty, "not run")
		return false
	}
	return true
}

// printable replaces control characters (C0, DEL, C1) with spaces, so that
// model output cannot drive the terminal or the line editor.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}
