package shell

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// childEnv makes the test binary run an interactive shell on its
// terminal instead of the tests (see TestMain): a shell that gets ^C
// from its terminal must be a process in the terminal's foreground
// process group, as it is for a person.
const childEnv = "AINATIVE_SHELL_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "catch-sigint":
		// A program that handles ^C itself (as an editor or a REPL
		// does): it reports each SIGINT and ends when a line arrives.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt)
		go func() {
			for range sigs {
				fmt.Println("caught")
			}
		}()
		fmt.Println("ready")
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		fmt.Println("got-" + strings.TrimSpace(line))
		os.Exit(0)
	case "1":
		s, err := New(Options{Guard: os.Getenv("AINATIVE_SHELL_TEST_GUARD") == "1"})
		if err != nil {
			os.Exit(125)
		}
		os.Exit(Status(s.Interactive(context.Background(), os.Stdin)))
	}
	os.Exit(m.Run())
}

// ptyShell is an interactive shell in a child process on a pseudo
// terminal, driven as a person would: type keys, read the screen.
type ptyShell struct {
	t      *testing.T
	pty    *os.File
	dir    string
	chunks chan []byte
	seen   bytes.Buffer
	exited chan error
}

// startShell starts the shell in a fresh directory; env adds variables.
func startShell(t *testing.T, env ...string) *ptyShell {
	t.Helper()
	p := &ptyShell{t: t, dir: t.TempDir(), chunks: make(chan []byte, 256), exited: make(chan error, 1)}
	cmd := exec.Command(os.Args[0])
	cmd.Dir = p.dir
	// HOME elsewhere keeps the directory in the prompt as it is.
	cmd.Env = append(os.Environ(), childEnv+"=1", "HOME=/nonexistent", "TEST_BINARY="+os.Args[0])
	cmd.Env = append(cmd.Env, env...)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 250})
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	p.pty = f
	go func() {
		for {
			buf := make([]byte, 4096)
			n, err := f.Read(buf)
			if err != nil {
				close(p.chunks)
				return
			}
			p.chunks <- buf[:n]
		}
	}()
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		f.Close()
	})
	p.expectPrompt()
	return p
}

// send types keys.
func (p *ptyShell) send(keys string) {
	p.t.Helper()
	if _, err := p.pty.Write([]byte(keys)); err != nil {
		p.t.Fatalf("typing %q: %v", keys, err)
	}
}

// expect reads the screen until want appears and returns what was read
// up to it; what follows is kept for the next expect. The deadline only
// guards against a hang: the shell answers in milliseconds.
func (p *ptyShell) expect(want string) string {
	p.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if i := strings.Index(p.seen.String(), want); i >= 0 {
			got := p.seen.String()[:i+len(want)]
			rest := p.seen.String()[i+len(want):]
			p.seen.Reset()
			p.seen.WriteString(rest)
			return got
		}
		select {
		case c, ok := <-p.chunks:
			if !ok {
				p.t.Fatalf("terminal closed waiting for %q; saw %q", want, p.seen.String())
			}
			p.seen.Write(c)
		case <-deadline:
			p.t.Fatalf("waiting for %q; saw %q", want, p.seen.String())
		}
	}
}

// expectPrompt waits for the prompt, which shows the directory.
func (p *ptyShell) expectPrompt() string {
	p.t.Helper()
	got := p.expect(":" + p.dir)
	p.expect(" ") // after "$" or "#"
	return got
}

// run types a command line and returns what follows it up to the next
// prompt.
func (p *ptyShell) run(line string) string {
	p.t.Helper()
	p.send(line + "\r")
	out := p.expectPrompt()
	out = out[:strings.LastIndex(out, "\n")+1] // the prompt's line
	return strings.TrimPrefix(out, line)
}

// Markers in the commands below are split by quotes (`echo st""art`) so
// that the echo of what was typed does not match what the command prints.

// ^C stops a running loop or command and returns to the prompt with
// status 130; the shell goes on (issue 11, item 8).
func TestCtrlCInterruptsCommandLine(t *testing.T) {
	cases := []struct {
		name, line, started, never string
	}{
		{"busy while loop", `echo st""arted; while :; do :; done; echo ne""ver`, "started", "never"},
		{"for loop of built-in sleep", `for i in 1 2 3; do echo ti""ck$i; sleep 5; done; echo ne""ver`, "tick1", "tick2"},
		{"built-in cat reading the terminal", `echo re""ading; cat; echo ne""ver`, "reading", "never"},
		{"function", `f() { while :; do :; done; }; echo st""arted; f; echo ne""ver`, "started", "never"},
	}
	if _, err := os.Stat("/bin/sh"); err == nil {
		// The program prints the tick itself, so that ^C comes when it
		// runs, not while the shell starts it.
		cases = append(cases, struct{ name, line, started, never string }{
			"for loop of an external program", `for i in 1 2 3; do /bin/sh -c 'echo ti""ck$1; exec sleep 5' sh $i; done; echo ne""ver`, "tick1", "tick2"})
	}
	sh := startShell(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sh.t = t
			sh.send(c.line + "\r")
			sh.expect(c.started + "\r\n")
			sh.send("\x03")
			if out := sh.expectPrompt(); strings.Contains(out, c.never) {
				t.Errorf("the line went on after ^C: %q", out)
			}
			if out := sh.run(`echo al""ive $?`); !strings.Contains(out, "alive 130") {
				t.Errorf("after ^C: %q, want alive 130", out)
			}
		})
	}
}

// Unbounded recursion stops at the nesting limit with bash's message,
// and a deep recursion is interruptible; neither ends the shell (item 9).
func TestNestingLimitInteractive(t *testing.T) {
	sh := startShell(t)
	out := sh.run(`f() { f; }; f; echo ne""ver`)
	if !strings.Contains(out, "f: maximum function nesting level exceeded (1000)") || strings.Contains(out, "never") {
		t.Errorf("recursion: %q", out)
	}
	if out := sh.run(`echo al""ive $?`); !strings.Contains(out, "alive 1\r\n") {
		t.Errorf("after the limit: %q, want alive 1", out)
	}
	sh.send(`FUNCNEST=100000000; g() { g; }; echo de""ep; g` + "\r")
	sh.expect("deep\r\n")
	sh.send("\x03")
	sh.expectPrompt()
	if out := sh.run(`echo al""ive $?`); !strings.Contains(out, "alive 130") {
		t.Errorf("after ^C in a recursion: %q, want alive 130", out)
	}
}

// Background jobs outlive their command line, ignore the ^C meant for
// the foreground, read /dev/null, and answer jobs, wait and kill %N; the
// prompt reports the ones that ended (issue 10, item 1).
func TestBackgroundJobs(t *testing.T) {
	sleep := "/bin/sleep"
	if _, err := os.Stat(sleep); err != nil {
		sleep = "sleep" // the built-in
	}
	sh := startShell(t)
	if out := sh.run(sleep + ` 37 & echo st""arted`); !strings.Contains(out, "[1] "+sleep+" 37\r\n") || !strings.Contains(out, "started") {
		t.Errorf("starting a job: %q", out)
	}
	// The job's goroutine may start its program later than the prompt
	// comes back; a ^C in the instant between fork and setpgid would
	// reach it, as in any shell, so the test waits for its own group.
	if sleep != "sleep" {
		waitOwnGroup(t, sleep, "37")
	}
	// ^C stops the foreground command only.
	sh.send(`echo fo""re; sleep 30` + "\r")
	sh.expect("fore\r\n")
	sh.send("\x03")
	sh.expectPrompt()
	if out := sh.run("jobs"); !strings.Contains(out, "[1]  Running") {
		t.Errorf("after ^C, jobs: %q", out)
	}
	if out := sh.run(`kill %1; wait %1; echo st""atus $?`); !strings.Contains(out, "status 143") {
		t.Errorf("kill %%1: %q", out)
	}
	if out := sh.run("jobs"); out != "\r\n" {
		t.Errorf("jobs after kill: %q", out)
	}
	// A loop of the shell's own is stopped by kill %N too.
	if out := sh.run(`while :; do :; done &`); !strings.Contains(out, "[1] while :; do :; done") {
		t.Errorf("starting a loop: %q", out)
	}
	if out := sh.run(`kill %1; wait %1; echo st""atus $?`); !strings.Contains(out, "status 143") {
		t.Errorf("kill %%1 of a loop: %q", out)
	}
	// Standard input is /dev/null: cat ends at once; its end is reported.
	sh.send("cat & wait\r")
	if out := sh.expectPrompt(); !strings.Contains(out, "[1]  Done") {
		t.Errorf("cat &: %q", out)
	}
	if out := sh.run(`fg`); !strings.Contains(out, "no job control") {
		t.Errorf("fg: %q", out)
	}
	if out := sh.run(`kill %7; echo st""atus $?`); !strings.Contains(out, "kill: %7: no such job") || !strings.Contains(out, "status 1") {
		t.Errorf("kill of no job: %q", out)
	}
}

// History is kept per user across sessions (not lines typed with a
// leading space); the up arrow and ^R find it (issue 10, item 1).
func TestHistoryAcrossSessions(t *testing.T) {
	home := t.TempDir()
	sh := startShell(t, "HOME="+home)
	sh.run(`echo fi""rst-one`)
	sh.run(`echo se""cond`)
	sh.run(` echo se""cret`)
	sh.send("\x04") // ^D on an empty line
	if err := <-sh.exited; err != nil {
		t.Fatalf("exit: %v", err)
	}
	sh.exited <- nil // for the cleanup
	data, err := os.ReadFile(home + "/.ainative_history")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(data); got != "echo fi\"\"rst-one\necho se\"\"cond\n" {
		t.Errorf("history file: %q", got)
	}

	sh = startShell(t, "HOME="+home)
	sh.send("\x1b[A\r") // up arrow: the latest line
	sh.expect("second\r\n")
	sh.expectPrompt()
	sh.send("rst\x12\r") // ^R: the latest line that contains "rst"
	sh.expect("first-one\r\n")
	sh.expectPrompt()
	sh.send("echo\x12\x12\r") // ^R ^R: the next older match
	sh.expect("second\r\n")
	sh.expectPrompt()
	if out := sh.run("history 2"); !strings.Contains(out, "    4  echo se\"\"cond\r\n    5  history 2\r\n") {
		t.Errorf("history 2: %q", out)
	}
}

// Tab completes paths, commands and functions; several candidates
// complete to their common prefix, then are listed.
func TestTabCompletion(t *testing.T) {
	sh := startShell(t)
	for name, data := range map[string]string{"alpha.txt": "ALPHA", "beta": "BETA"} {
		if err := os.WriteFile(sh.dir+"/"+name, []byte(data+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(sh.dir+"/alps", 0o755); err != nil {
		t.Fatal(err)
	}
	sh.send("cat be\t\r")
	sh.expect("BETA\r\n")
	sh.expectPrompt()
	sh.send("ls al\t\t")
	sh.expect("alpha.txt  alps/")
	sh.send("\x15\r")
	sh.expectPrompt()
	sh.run(`zzfunc() { echo zz""ran; }`)
	sh.send("zzf\t\r")
	sh.expect("zzran\r\n")
	sh.expectPrompt()
}

func TestCompleteSubcommands(t *testing.T) {
	s, err := New(Options{Subcommands: []string{"generate", "gguf", "hw"}, Env: []string{"PATH=" + t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	ed := &editor{s: s, hist: &history{}, out: io.Discard}
	for _, c := range []struct{ line, want string }{
		{"ainative ge", "ainative generate "},
		{"ainative h", "ainative hw "},
		{"x; ainative g", "x; ainative g"}, // two candidates, listed
		{"gen", "generate "},
	} {
		if got, pos, ok := ed.key(c.line, len(c.line), '\t'); !ok || got != c.want || pos != len(c.want) {
			t.Errorf("complete %q = %q, %d, %v; want %q", c.line, got, pos, ok, c.want)
		}
	}
}

// bash's editing keys, the status in the prompt, and ~/.ainativerc.
func TestEditingKeysPromptAndRC(t *testing.T) {
	home := t.TempDir()
	rc := "greet() { echo hel\"\"lo-from-rc; }\nRCVAR=fr\"\"om-rc\n"
	if err := os.WriteFile(home+"/.ainativerc", []byte(rc), 0o644); err != nil {
		t.Fatal(err)
	}
	sh := startShell(t, "HOME="+home)
	if out := sh.run("greet; echo $RCVAR"); !strings.Contains(out, "hello-from-rc\r\nfrom-rc\r\n") {
		t.Errorf("rc: %q", out)
	}
	for _, c := range []struct{ keys, want string }{
		{"cho h\"\"i\x01e\x05!\r", "hi!\r\n"},         // ^A, ^E
		{"echo a b\"\"b\x17c\"\"c\r", "a cc\r\n"},     // ^W
		{"echo o\"\"ne two\x1bbX\r", "one Xtwo\r\n"},  // Alt-B
		{"echo x\"\"y\x01\x1bf\x1bf\x0b\r", "xy\r\n"}, // Alt-F, ^K
		{"junk\x15echo u\"\"u\r", "uu\r\n"},           // ^U
	} {
		sh.send(c.keys)
		sh.expect(c.want)
		sh.expectPrompt()
	}
	sh.send("x\x03") // ^C at the prompt: status 130
	sh.expect(":" + sh.dir + " [130]")
	sh.expect(" ")
	sh.send("false\r")
	sh.expect(":" + sh.dir + " [1]")
	sh.expect(" ")
	sh.send("true\r")
	if out := sh.expectPrompt(); strings.Contains(out, "[1]") {
		t.Errorf("status after true: %q", out)
	}
}

// A program that handles ^C keeps running, and the line goes on after
// it, as in bash: the shell neither stops nor kills it.
func TestCtrlCLeftToProgramThatHandlesIt(t *testing.T) {
	sh := startShell(t)
	sh.send(childEnv + `=catch-sigint "$TEST_BINARY"; echo af""ter` + "\r")
	sh.expect("ready\r\n")
	sh.send("\x03")
	sh.expect("caught\r\n")
	sh.send("hello\r")
	sh.expect("got-hello\r\n")
	if out := sh.expectPrompt(); !strings.Contains(out, "after") {
		t.Errorf("the line did not go on: %q", out)
	}
	if out := sh.run(`echo st""atus $?`); !strings.Contains(out, "status 0") {
		t.Errorf("%q, want status 0", out)
	}
}

// waitOwnGroup waits until a process runs with exactly these arguments
// as the leader of a process group of its own.
func waitOwnGroup(t *testing.T, args ...string) {
	t.Helper()
	want := strings.Join(args, "\x00") + "\x00"
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		dirs, err := os.ReadDir("/proc")
		if err != nil {
			t.Skipf("no /proc: %v", err)
		}
		for _, d := range dirs {
			pid, err := strconv.Atoi(d.Name())
			if err != nil {
				continue
			}
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err != nil || string(cmdline) != want {
				continue
			}
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			// pid (comm) state ppid pgrp ...: comm may hold spaces.
			fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
			if len(fields) > 2 && fields[2] == d.Name() {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no process %q in a group of its own after 10s", args)
}
