package shell

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// run runs src in a fresh shell and returns stdout, stderr and status.
func run(t *testing.T, src string, opts Options) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	opts.Stdout, opts.Stderr = &out, &errb
	if opts.Stdin == nil {
		opts.Stdin = strings.NewReader("")
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := Status(s.RunString(ctx, src, "test"))
	return out.String(), errb.String(), st
}

func TestRunStringStatus(t *testing.T) {
	out, _, st := run(t, `x=4; echo "a $x"; exit 7`, Options{})
	if out != "a 4\n" || st != 7 {
		t.Errorf("out %q status %d", out, st)
	}
	_, errOut, st := run(t, `echo "unterminated`, Options{})
	if st != 2 || !strings.Contains(errOut, "test:1:6") {
		t.Errorf("syntax error: status %d, stderr %q", st, errOut)
	}
	_, errOut, st = run(t, `no-such-command-xyz`, Options{})
	if st != 127 || !strings.Contains(errOut, "no-such-command-xyz") {
		t.Errorf("missing command: status %d, stderr %q", st, errOut)
	}
}

func TestFileUtilities(t *testing.T) {
	dir := t.TempDir()
	src := `
mkdir -p a/b/c
echo hello > a/b/c/f.txt
cp a/b/c/f.txt g.txt
mv g.txt h.txt
cat h.txt a/b/c/f.txt
ls
ls a/b/c
rm h.txt
rm -r a
ls
rm nothing-here || echo rm-failed
rm -f nothing-here && echo rm-f-ok
`
	out, errOut, st := run(t, src, Options{Dir: dir})
	want := "hello\nhello\na\nh.txt\nf.txt\nrm-failed\nrm-f-ok\n"
	if out != want || st != 0 {
		t.Errorf("out:\n%s\nwant:\n%s\nstatus %d stderr %q", out, want, st, errOut)
	}
	if !strings.Contains(errOut, "rm: remove "+filepath.Join(dir, "nothing-here")) {
		t.Errorf("stderr %q lacks the rm error", errOut)
	}
	out, _, _ = run(t, `echo x > f; ls -l f`, Options{Dir: dir})
	if !strings.HasPrefix(out, "-rw") || !strings.HasSuffix(out, " f\n") {
		t.Errorf("ls -l = %q", out)
	}
	// cp onto itself must not truncate the file it reads.
	out, errOut, st = run(t, `echo keep > k; cp k k; cp k .; cat k`, Options{Dir: dir})
	if out != "keep\n" || !strings.Contains(errOut, "same file") {
		t.Errorf("cp onto itself: out %q, stderr %q, status %d", out, errOut, st)
	}
	if _, errOut, st = run(t, `mkdir -p d; cp d e`, Options{Dir: dir}); st == 0 || !strings.Contains(errOut, "is a directory") {
		t.Errorf("cp of a directory: stderr %q, status %d", errOut, st)
	}
	if _, err := os.Stat(filepath.Join(dir, "e")); err == nil {
		t.Error("cp of a directory left an empty file behind")
	}
	_, errOut, st = run(t, `cat /nonexistent`, Options{})
	if st != 1 || !strings.Contains(errOut, "/nonexistent") {
		t.Errorf("cat missing file: %d %q", st, errOut)
	}
	out, _, _ = run(t, `echo piped | cat`, Options{})
	if out != "piped\n" {
		t.Errorf("cat from pipe = %q", out)
	}
}

func TestSystemUtilities(t *testing.T) {
	for _, tc := range []struct{ cmd, want string }{
		{"ps", fmt.Sprintf("\n%d ", os.Getpid())},
		{"free -m", "Mem:"},
		{"uptime", "up "},
		{"uname -r", "."},
		{"mount", "/proc"},
		{"sync", ""},
		{"df", "Mounted on"},
		{"df -h /", "Use%"},
		{"hostname", ""},
		{"utils", "ls [-la]"},
		{"help", "cd"},
		{"dmesg > /dev/null; echo $?", ""},
	} {
		out, errOut, st := run(t, tc.cmd, Options{})
		if st != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: status %d, out %q, stderr %q", tc.cmd, st, out, errOut)
		}
	}
}

func TestDfMatchesStatfs(t *testing.T) {
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Skip(err)
	}
	out, errOut, status := run(t, "df "+dir, Options{})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if status != 0 || len(lines) != 2 {
		t.Fatalf("df %s: status %d, out %q, stderr %q", dir, status, out, errOut)
	}
	f := strings.Fields(lines[1])
	if want := strconv.FormatUint(st.Blocks*uint64(st.Bsize)>>10, 10); len(f) < 6 || f[1] != want {
		t.Errorf("df %s = %q; statfs says %s KiB", dir, lines[1], want)
	}
	if _, _, status := run(t, "df /nonexistent", Options{}); status == 0 {
		t.Error("df of a missing path succeeded")
	}
	if got := unescapeMount(`/mnt/a\040b\\x\04`); got != `/mnt/a b\\x\04` {
		t.Errorf("unescapeMount = %q", got)
	}
}

func TestFreeMatchesMeminfo(t *testing.T) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Skip(err)
	}
	var totalKiB string
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			totalKiB = strings.TrimSuffix(strings.TrimSpace(v), " kB")
		}
	}
	out, _, st := run(t, "free", Options{})
	if f := strings.Fields(strings.Split(out, "\n")[1]); st != 0 || len(f) < 2 || f[0] != "Mem:" || f[1] != totalKiB {
		t.Errorf("free = %q, status %d; MemTotal is %s kB", out, st, totalKiB)
	}
}

func TestPoweroffRefusedOutsidePID1(t *testing.T) {
	_, errOut, st := run(t, "poweroff", Options{Env: []string{"PATH=/usr/bin:/bin"}})
	if st != 1 || !strings.Contains(errOut, "not running under ainative as PID 1") {
		t.Errorf("status %d, stderr %q", st, errOut)
	}
}

func TestKillAndSleep(t *testing.T) {
	out, _, st := run(t, `sleep 0.01 && echo slept; kill -0 $$ 2>/dev/null; kill -BOGUS 1; echo $?`, Options{})
	if st != 0 || !strings.HasPrefix(out, "slept\n") || !strings.HasSuffix(out, "1\n") {
		t.Errorf("out %q status %d", out, st)
	}
	// An interrupted sleep returns promptly.
	s, _ := New(Options{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	begin := time.Now()
	s.RunString(ctx, "sleep 30", "t")
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("sleep not interrupted: %v", d)
	}
}

func TestSubcommandsRunSelf(t *testing.T) {
	self := filepath.Join(t.TempDir(), "fake-ainative")
	if err := os.WriteFile(self, []byte("#!/bin/sh\necho self \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := Options{Self: self, Subcommands: []string{"generate"}, Env: []string{"PATH=/usr/bin:/bin"}}
	out, errOut, st := run(t, "ainative hw --json; generate -n 4", opts)
	if st != 0 || out != "self hw --json\nself generate -n 4\n" {
		t.Errorf("out %q status %d stderr %q", out, st, errOut)
	}
}

func TestRunReader(t *testing.T) {
	var out bytes.Buffer
	s, _ := New(Options{Stdout: &out, Stderr: &out})
	err := s.RunReader(context.Background(), strings.NewReader("echo one\nif true; then\n echo two\nfi\nexit 4\necho never\n"))
	if Status(err) != 4 || out.String() != "one\ntwo\n" {
		t.Errorf("out %q status %d", out.String(), Status(err))
	}
}

// openPTY returns a pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

func TestInteractive(t *testing.T) {
	master, slave := openPTY(t)
	s, err := New(Options{Stdin: slave, Stdout: slave, Stderr: slave})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Interactive(context.Background(), slave) }()

	// The pty master does not support deadlines: read in a goroutine.
	chunks := make(chan []byte, 100)
	go func() {
		for {
			buf := make([]byte, 4096)
			n, err := master.Read(buf)
			if err != nil {
				close(chunks)
				return
			}
			chunks <- buf[:n]
		}
	}()
	var seen bytes.Buffer
	expect := func(want string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for !strings.Contains(seen.String(), want) {
			select {
			case c := <-chunks:
				seen.Write(c)
			case <-timeout:
				t.Fatalf("waiting for %q; saw %q", want, seen.String())
			}
		}
		seen.Reset()
	}
	expect("# ") // or "$ " for non-root; both end in a space after the sign
	master.Write([]byte("if true; then\r"))
	expect("> ") // continuation prompt
	master.Write([]byte("echo in-if; fi\r"))
	expect("in-if")
	master.Write([]byte("half-typed\x03"))
	master.Write([]byte("echo $((6*7))\r"))
	expect("42")
	master.Write([]byte("exit 5\r"))
	select {
	case err := <-done:
		if Status(err) != 5 {
			t.Errorf("exit status %d (%v), want 5", Status(err), err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("shell did not exit")
	}
}

// Unbounded recursion stops at $FUNCNEST (or DefaultFuncNest) with
// bash's message, also for a function that only a subshell knows; a
// script ends there with status 1 (issue 11, item 9).
func TestNestingLimit(t *testing.T) {
	cases := []struct{ script, out, msg string }{
		{`f() { f; }; f; echo never`, "", "f: maximum function nesting level exceeded (1000)\n"},
		{`FUNCNEST=3; g() { echo in; g; }; g`, "in\nin\nin\n", "g: maximum function nesting level exceeded (3)\n"},
		{`(h() { h; }; h); echo "after $?"; exit 1`, "after 1\n", "h: maximum function nesting level exceeded (1000)\n"},
		// Nesting, not the number of calls, is limited.
		{`FUNCNEST=2; n=0; k() { n=$((n+1)); }; for i in 1 2 3 4 5; do k; done; echo $n`, "5\n", ""},
		// A value that is not a positive number leaves the default.
		{`FUNCNEST=x; f() { f; }; f`, "", "f: maximum function nesting level exceeded (1000)\n"},
	}
	for _, c := range cases {
		out, errOut, st := run(t, c.script, Options{})
		wantStatus := 0
		if c.msg != "" {
			wantStatus = 1
		}
		if out != c.out || errOut != c.msg || st != wantStatus {
			t.Errorf("%s: out %q stderr %q status %d; want %q %q %d", c.script, out, errOut, st, c.out, c.msg, wantStatus)
		}
	}
}

// Interrupting a built-in that waits on an idle pipe (the context is
// cancelled, as ^C does) ends it at once and quietly.
func TestBuiltinReadInterrupted(t *testing.T) {
	for _, cmd := range []string{"cat", "grep x", "cat -"} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		var errb bytes.Buffer
		out := &firstWrite{c: make(chan struct{})}
		s, err := New(Options{Stdin: r, Stdout: out, Stderr: &errb})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() { done <- Status(s.RunString(ctx, cmd, "t")) }()
		w.Write([]byte("x\n"))
		<-out.c // it has read the line and waits for more
		cancel()
		if st := <-done; st != 130 || errb.Len() != 0 {
			t.Errorf("%s: status %d, stderr %q; want 130 and nothing", cmd, st, errb.String())
		}
		r.Close()
		w.Close()
	}
}

// firstWrite closes c on the first write.
type firstWrite struct {
	c    chan struct{}
	once sync.Once
}

func (f *firstWrite) Write(p []byte) (int, error) {
	f.once.Do(func() { close(f.c) })
	return len(p), nil
}

// Scripts keep the interpreter's own background statements, $! and wait.
func TestScriptBackground(t *testing.T) {
	out, errOut, st := run(t, `sleep 0.01 & p=$!; wait $p; echo "one $?"; (exit 3) & wait $!; echo "two $?"; sleep 0 & wait; echo three`, Options{})
	if out != "one 0\ntwo 3\nthree\n" || st != 0 {
		t.Errorf("out %q stderr %q status %d", out, errOut, st)
	}
}
