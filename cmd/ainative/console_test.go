package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/bus"
	"github.com/raym33/ainative/internal/console"
)

func TestConsoleURL(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, console.New(console.Config{}))
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	defer srv.Close()
	t.Setenv("AINATIVE_CONSOLE_TOKEN", "tok")
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"console", "--listen", l.Addr().String()})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if want := "http://" + l.Addr().String() + "/console/?token=tok\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
	srv.Close()
	root = newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"console", "--listen", l.Addr().String()})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "no daemon answers") {
		t.Errorf("no daemon: %v", err)
	}
}

// `console --session` serves the user's own session: the one-time URL is
// printed and written to a 0600 file, opens the bus panel once, and the
// file goes away when the session ends.
func TestConsoleSession(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus.sock")
	t.Setenv("AINATIVE_BUS", sock)
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(dir, "run"))
	s, err := bus.New(bus.Config{Dir: dir, Policy: &bus.Policy{}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	defer func() { cancel(); <-done; s.Close() }()

	root := newRootCmd()
	pr, pw := io.Pipe()
	root.SetOut(pw)
	root.SetErr(io.Discard)
	root.SetArgs([]string{"console", "--session", "--listen", "127.0.0.1:1"})
	sctx, stop := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() { ended <- root.ExecuteContext(sctx) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	sessionURL := strings.TrimSpace(line)
	tokenFile := filepath.Join(dir, "run", "ainative", "console-token")
	b, err := os.ReadFile(tokenFile)
	fi, serr := os.Stat(tokenFile)
	if err != nil || serr != nil || strings.TrimSpace(string(b)) != sessionURL || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file %q (%v) for %q: %v %v", b, fi.Mode(), sessionURL, err, serr)
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.Get(sessionURL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("opening the session: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = hc.Get(strings.Split(sessionURL, "?")[0] + "bus/consent")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("bus panel: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(sessionURL) // the token is spent
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("second use of the URL: %v %v", resp, err)
	}
	resp.Body.Close()
	stop()
	if err := <-ended; err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if _, err := os.Stat(tokenFile); !os.IsNotExist(err) {
		t.Fatalf("token file left behind: %v", err)
	}
}
