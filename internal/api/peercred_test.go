package api

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/raym33/ainative/internal/runtime"
)

// TestMain's helper: when AINATIVE_PEER_SOCKET is set, this test binary is
// the client process of TestUnixSocketUIDs, running as another user.
func peerClient() {
	sock := os.Getenv("AINATIVE_PEER_SOCKET")
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	for _, call := range []struct{ method, path, body string }{
		{"POST", "/api/copy", `{"source":"tiny","destination":"stolen"}`},
		{"DELETE", "/api/delete", `{"model":"tiny"}`},
		{"POST", "/api/generate", `{"model":"tiny","prompt":"x","raw":true,"stream":false,"options":{"num_predict":1}}`},
	} {
		req, _ := http.NewRequest(call.method, "http://localhost"+call.path, strings.NewReader(call.body))
		resp, err := c.Do(req)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		resp.Body.Close()
		fmt.Println(call.path, resp.StatusCode)
	}
	os.Exit(0)
}

func init() {
	if os.Getenv("AINATIVE_PEER_SOCKET") != "" {
		peerClient()
	}
}

// On the Unix socket the kernel says who calls: another user may run
// inference but not change the model store.
func TestUnixSocketUIDs(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root: this test needs it to start a process as another user")
		}
		t.Skip("needs root to start a client as another user")
	}
	d := startDaemon(t, runtime.Config{})
	// The nobody user must reach the socket.
	for dir := filepath.Dir(d.socket); dir != "/" && dir != os.TempDir(); dir = filepath.Dir(dir) {
		os.Chmod(dir, 0o755)
	}
	os.Chmod(d.socket, 0o666)
	// A copy of this test binary that the nobody user may run.
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(filepath.Dir(d.socket), "client")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), "AINATIVE_PEER_SOCKET="+d.socket)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client as uid 65534: %v\n%s", err, out)
	}
	for _, want := range []string{"/api/copy 403", "/api/delete 403", "/api/generate 200"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("uid 65534: want %q in:\n%s", want, out)
		}
	}
	// The store is unchanged.
	entries, err := d.st.List()
	if err != nil || len(entries) != 1 {
		t.Fatalf("store after the refused calls: %v %v", entries, err)
	}
}
