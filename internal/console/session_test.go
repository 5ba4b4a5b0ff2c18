package console

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/bus/bustest"
)

func TestSessionHandler(t *testing.T) {
	daemon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"models":[{"name":"from-daemon"}]}`)
	}))
	defer daemon.Close()
	u, _ := url.Parse(daemon.URL)
	sock := startBus(t)
	p, token, err := NewPanel(context.Background(), bustest.Dial(t, sock))
	if err != nil {
		t.Fatal(err)
	}
	h := SessionHandler(p, u, "")
	if w := request(t, h, "GET", "/api/tags", ""); w.Code != 200 || !strings.Contains(w.Body.String(), "from-daemon") {
		t.Fatalf("proxied API: %d %s", w.Code, w.Body)
	}
	if w := request(t, h, "GET", "/console/?session="+token, ""); w.Code != http.StatusSeeOther {
		t.Fatalf("session: %d", w.Code)
	}
}

func TestWriteToken(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	path, err := TokenPath()
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteToken(path, "http://127.0.0.1:1/console/?session=abc"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi.Mode(), err)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("token dir: %v %v", di.Mode(), err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "http://127.0.0.1:1/console/?session=abc\n" {
		t.Fatalf("token file holds %q", b)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	if _, err := TokenPath(); err == nil {
		t.Fatal("no runtime dir: no error")
	}
}

// Services and logs come from the status server's Unix socket, to
// panel sessions only.
func TestSessionSystem(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "init.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	status := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cookie") != "" {
			t.Errorf("the session cookie reached the status server")
		}
		io.WriteString(w, r.URL.Path+"?"+r.URL.RawQuery)
	})}
	go status.Serve(l)
	defer status.Close()
	p, token, err := NewPanel(context.Background(), bustest.Dial(t, startBus(t)))
	if err != nil {
		t.Fatal(err)
	}
	h := SessionHandler(p, &url.URL{Scheme: "http", Host: "127.0.0.1:1"}, sock)
	if w := request(t, h, "GET", "/console/system/status", ""); w.Code != 401 {
		t.Fatalf("no session: %d", w.Code)
	}
	cookie := request(t, h, "GET", "/console/?session="+token, "").Result().Cookies()[0]
	if w := request(t, h, "GET", "/console/system/logs?service=runtime&n=5", "", cookie); w.Code != 200 || w.Body.String() != "/logs?service=runtime&n=5" {
		t.Fatalf("logs: %d %q", w.Code, w.Body)
	}
	if w := request(t, h, "GET", "/console/system/reboot", "", cookie); w.Code != 404 {
		t.Fatalf("other status paths: %d", w.Code)
	}
}
