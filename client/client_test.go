package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewAddresses(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:9000":      "http://127.0.0.1:9000",
		"example.org":         "http://example.org:11434",
		"http://h:1/prefix":   "http://h:1/prefix",
		"https://h":           "https://h",
		"unix:///run/ai.sock": "http://localhost",
	} {
		c, err := New(addr)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if got := c.base.String(); got != want {
			t.Errorf("%s: base %s, want %s", addr, got, want)
		}
	}
	if _, err := New("unix://"); err == nil {
		t.Error("unix:// without a path accepted")
	}
}

func TestFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	t.Setenv("AINATIVE_HOST", "")
	// No socket: the TCP default.
	c, err := FromEnvironment()
	if err != nil || c.Addr() != DefaultTCP {
		t.Fatalf("no socket: %v %v", c.Addr(), err)
	}
	// The user's socket when it exists.
	sock := filepath.Join(dir, "ainative", "ai.sock")
	os.MkdirAll(filepath.Dir(sock), 0o755)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if c, _ = FromEnvironment(); c.Addr() != "unix://"+sock {
		t.Fatalf("with a socket: %s", c.Addr())
	}
	t.Setenv("AINATIVE_HOST", "10.1.2.3:5")
	if c, _ = FromEnvironment(); c.Addr() != "10.1.2.3:5" {
		t.Fatalf("AINATIVE_HOST: %s", c.Addr())
	}
}

func TestErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/show":
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":"model \"x\" not found, try pulling it first"}`)
		case "/v1/x":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"message":"bad thing","type":"invalid_request_error"}}`)
		case "/api/chat":
			fmt.Fprintln(w, `{"message":{"role":"assistant","content":"a"},"done":false}`)
			fmt.Fprintln(w, `{"error":"the model failed"}`)
		}
	}))
	defer srv.Close()
	c, _ := New(srv.URL)
	_, err := c.Show(context.Background(), "x")
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 404 || !strings.Contains(se.Message, "try pulling") {
		t.Fatalf("show: %v", err)
	}
	err = c.call(context.Background(), http.MethodGet, "/v1/x", nil, nil)
	if !errors.As(err, &se) || se.Message != "bad thing" {
		t.Fatalf("OpenAI-shaped error: %v", err)
	}
	var got []string
	err = c.Chat(context.Background(), &ChatRequest{Model: "m"}, func(r ChatResponse) error {
		got = append(got, r.Message.Content)
		return nil
	})
	if !errors.As(err, &se) || se.Message != "the model failed" || len(got) != 1 {
		t.Fatalf("error line mid-stream: %v after %v", err, got)
	}
	// Nobody listening: the error says how to start a runtime.
	dead, _ := New("unix://" + filepath.Join(t.TempDir(), "none.sock"))
	if err := dead.Heartbeat(context.Background()); !errors.Is(err, ErrNoRuntime) {
		t.Fatalf("no runtime: %v", err)
	}
}
