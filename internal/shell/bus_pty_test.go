package shell

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	busapi "github.com/raym33/ainative/client/bus"
	"github.com/raym33/ainative/internal/bus"
	"github.com/raym33/ainative/internal/bus/bustest"
)

// startTestBus serves a bus with the default policy on a socket in a
// fresh directory. The shell's child process is this test binary, the
// bus's own executable, so it may answer consent as ainative does.
func startTestBus(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "bus.sock")
	bustest.Serve(t, bus.Config{Dir: t.TempDir(), Policy: &bus.Policy{}, ConsentTimeout: time.Minute}, sock)
	return sock
}

// waitItem waits until the bus holds an item of kind whose text contains
// want, as the shell publishes it in the background. The deadline only
// guards against a hang.
func waitItem(t *testing.T, c *busapi.Client, kind, want string) busapi.Item {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		items, err := c.Query(context.Background(), busapi.QueryParams{Kinds: []string{kind}})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if strings.Contains(it.Text, want) {
				return it
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s item with %q on the bus; have %+v", kind, want, items)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The shell joins the bus: it publishes its working directory and its
// last failed command as private context, and it answers consent
// requests in its terminal. A run_command approved there runs; one
// refused does not, and the line being typed when the request came is
// given back afterwards.
func TestShellOnTheBus(t *testing.T) {
	sock := startTestBus(t)
	p := startShell(t, "AINATIVE_BUS="+sock)
	c := bustest.Dial(t, sock)

	it := waitItem(t, c, "cwd", p.dir)
	if it.Sensitivity != busapi.Private || it.Text != p.dir {
		t.Fatalf("cwd item %+v", it)
	}
	p.run("cd sub 2>/dev/null; mkdir sub; cd sub")
	waitItem(t, c, "cwd", filepath.Join(p.dir, "sub"))
	p.send("cd ..\r")
	p.expectPrompt()
	p.run("ls /nonexistent-" + "dir")
	fail := waitItem(t, c, "error", "ls /nonexistent-dir")
	if fail.Sensitivity != busapi.Private || !strings.Contains(fail.Text, "exit status") {
		t.Fatalf("error item %+v", fail)
	}

	call := func(cmd string) chan error {
		res := make(chan error, 1)
		go func() {
			_, err := c.CallTool(context.Background(), "run_command", map[string]any{"command": cmd})
			res <- err
		}()
		return res
	}
	// Approved: it runs. The request comes while a line is half typed.
	yes := filepath.Join(p.dir, "approved")
	p.send("echo half")
	p.expect("echo half")
	res := call("touch " + yes)
	p.expect("consent request")
	screen := p.expect("allow? [y/N] ")
	for _, want := range []string{"run_command (destructive)", "command: touch " + yes, "risk:", "uid 0 pid"} {
		if !strings.Contains(screen, want) {
			t.Errorf("consent prompt lacks %q:\n%s", want, screen)
		}
	}
	p.send("y\r")
	p.expect("approved")
	if err := <-res; err != nil {
		t.Fatalf("approved run_command: %v", err)
	}
	if _, err := os.Stat(yes); err != nil {
		t.Fatalf("approved command did not run: %v", err)
	}
	p.expect("echo half") // the line is back in the editor
	p.send("-done\r")
	if out := p.expect("half-done"); !strings.Contains(out, "\n") {
		t.Fatalf("restored line: %q", out)
	}
	p.expectPrompt()

	// Refused (anything but y): it does not run.
	no := filepath.Join(p.dir, "refused")
	res = call("touch " + no)
	p.expect("allow? [y/N] ")
	p.send("n\r")
	p.expect("refused")
	p.expectPrompt()
	if err := <-res; err == nil || !strings.Contains(err.Error(), "consent refused") {
		t.Fatalf("refused run_command: %v", err)
	}
	if _, err := os.Stat(no); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused command ran: %v", err)
	}
	// The shell goes on, and the answers are not in its history.
	if out := p.run("echo st" + `""` + "ill"); !strings.Contains(out, "still") {
		t.Fatalf("after consent: %q", out)
	}
	if out := p.run("history"); strings.Contains(out, " y\r") || strings.Contains(out, " n\r") || !strings.Contains(out, "half-done") {
		t.Fatalf("history: %q", out)
	}
	recs, err := c.Audit(context.Background(), busapi.AuditQuery{Target: "run_command"})
	if err != nil {
		t.Fatal(err)
	}
	var decisions []string
	for _, r := range recs {
		decisions = append(decisions, r.Decision)
	}
	if got := strings.Join(decisions, ","); got != "asked,approved,asked,refused" {
		t.Fatalf("audit decisions %s", got)
	}

	// With `ai off` nothing more is published: the directory visited
	// then never reaches the bus, though the one after `ai on` does
	// (the shell publishes in order).
	p.run("ai off; mkdir hidden visible; cd hidden")
	p.run("cd ../visible; ai on")
	p.run("true")
	waitItem(t, c, "cwd", filepath.Join(p.dir, "visible"))
	items, err := c.Query(context.Background(), busapi.QueryParams{Kinds: []string{"cwd"}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if strings.Contains(it.Text, "hidden") {
			t.Fatalf("published with ai off: %+v", it)
		}
	}
}

// Without a bus, or with one that accepts and never answers, the shell
// works as before: the bus is reached in the background.
func TestShellWithoutBus(t *testing.T) {
	hung := filepath.Join(t.TempDir(), "hung.sock")
	l, err := net.Listen("unix", hung)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan []net.Conn, 1)
	go func() {
		var conns []net.Conn
		for {
			c, err := l.Accept()
			if err != nil {
				accepted <- conns
				return
			}
			conns = append(conns, c) // held open, never read
		}
	}()
	defer func() {
		l.Close()
		for _, c := range <-accepted {
			c.Close()
		}
	}()
	for _, sock := range []string{filepath.Join(t.TempDir(), "none.sock"), hung} {
		p := startShell(t, "AINATIVE_BUS="+sock)
		for i := range 3 {
			if out := p.run("cd " + p.dir + "; echo o" + `""` + "k" + strconv.Itoa(i)); !strings.Contains(out, "ok"+strconv.Itoa(i)) {
				t.Fatalf("bus %s: %q", sock, out)
			}
		}
	}
}
