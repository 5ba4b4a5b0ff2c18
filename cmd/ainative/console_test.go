package main

import (
	"bytes"
	"net"
	"net/http"
	"strings"
	"testing"

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
