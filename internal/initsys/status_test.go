package initsys

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raym33/ainative/internal/leaktest"
)

func TestStatusServer(t *testing.T) {
	leaktest.Check(t)
	socket := filepath.Join(t.TempDir(), "init.sock")
	cfg := &Config{Services: []Service{testService("web", "serve", "")}}
	sys, err := StartHost(context.Background(), HostOptions{Config: cfg, Socket: socket})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sys.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	}()
	waitFor(t, "web logging", func() bool { return len(sys.Supervisor().Logs("web").Lines(0)) > 0 })

	srv := httptest.NewServer(sys.Handler())
	defer srv.Close()
	get := func(path string, wantCode int, v any) string {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != wantCode {
			t.Errorf("GET %s: %s, want %d", path, resp.Status, wantCode)
		}
		var b strings.Builder
		if v != nil {
			if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			return ""
		}
		buf := make([]byte, 1<<16)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return b.String()
	}

	var st Status
	get("/status", 200, &st)
	if st.PID1 || len(st.Services) != 1 || st.Services[0].Name != "web" || st.Services[0].State != StateRunning ||
		st.Services[0].PID == 0 || st.Memory.TotalKiB == 0 || st.Uptime <= 0 {
		t.Errorf("status = %+v", st)
	}
	if got := strings.Join(st.Services[0].LastLines, "\n"); !strings.Contains(got, "serving web") {
		t.Errorf("last lines = %q", got)
	}
	var logs LogsResponse
	get("/logs?service=web&n=1", 200, &logs)
	if logs.Service != "web" || len(logs.Lines) != 1 {
		t.Errorf("logs = %+v", logs)
	}
	get("/logs", 200, &logs)
	if logs.Service != InitLogName || !strings.Contains(strings.Join(logs.Lines, "\n"), "service started") {
		t.Errorf("init log = %+v", logs)
	}
	var e map[string]string
	get("/logs?service=nope", 404, &e)
	if !strings.Contains(e["error"], `no service "nope" (known: init, web)`) {
		t.Errorf("404 body = %v", e)
	}
	get("/logs?n=-3", 400, &e)
	if html := get("/", 200, nil); !strings.Contains(html, `<a href="/logs?service=web">web</a>`) {
		t.Errorf("page lacks the service:\n%s", html)
	}

	// The same handler answers on the Unix socket, as `ainative logs` uses it.
	c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}}
	resp, err := c.Get("http://ainative/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.CloseIdleConnections()
	if resp.StatusCode != 200 {
		t.Errorf("socket: %s", resp.Status)
	}
}

// A status socket that cannot be made fails StartHost without leaving
// the TCP listener open.
func TestStartHostSocketErrorClosesListener(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			skipOrFail(t, "%v", err)
		}
		return len(ents)
	}
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	before := fds()
	_, err := StartHost(context.Background(), HostOptions{Config: &Config{}, StatusAddr: "127.0.0.1:0", Socket: filepath.Join(notDir, "init.sock")})
	if err == nil || !strings.Contains(err.Error(), "status socket") {
		t.Fatalf("err = %v", err)
	}
	if after := fds(); after != before {
		t.Errorf("%d open descriptors before, %d after the failed start", before, after)
	}
}

func TestParseCmdline(t *testing.T) {
	p, err := parseCmdline("console=ttyS0 ainative.exitport=0xf4 ainative.hostname=box quiet ainative.models=/dev/vda ainative.data=/dev/vdb")
	if err != nil || p.exitPort != 0xf4 || p.hostname != "box" || p.modelsDisk != "/dev/vda" || p.dataDisk != "/dev/vdb" {
		t.Errorf("%+v %v", p, err)
	}
	// A bad parameter is reported and left out; the others still count.
	if p, err := parseCmdline("ainative.data=PARTLABEL=ainative-data"); err != nil || p.dataDisk != "PARTLABEL=ainative-data" {
		t.Errorf("ainative.data=PARTLABEL=ainative-data: %+v, err = %v", p, err)
	}
	if p, err := parseCmdline("ainative.data=/etc/passwd ainative.data=PARTLABEL=../x"); err == nil || p.dataDisk != "" {
		t.Errorf("ainative.data=/etc/passwd: %+v, err = %v", p, err)
	}
	p, err = parseCmdline("ainative.exitport=banana ainative.hostname=box")
	if err == nil || !strings.Contains(err.Error(), `ainative.exitport="banana"`) || p.hostname != "box" || p.exitPort != 0 {
		t.Errorf("%+v, err = %v", p, err)
	}
	if _, err := parseCmdline("ainative.models=vda"); err == nil {
		t.Error("models disk outside /dev accepted")
	}
	p, err = parseCmdline(StatusAllowParam + "=10.0.2.2,fd00::/8")
	if err != nil || len(p.statusAllow) != 2 || p.statusAllow[0].String() != "10.0.2.2/32" {
		t.Errorf("%s: %v, %v", StatusAllowParam, p.statusAllow, err)
	}
	if _, err := parseCmdline(StatusAllowParam + "=everyone"); err == nil {
		t.Error("bad status_allow accepted")
	}
}

func TestScanPowerKey(t *testing.T) {
	ev := func(typ, code uint16, value int32) []byte {
		b := make([]byte, eventSize64)
		b[16], b[17] = byte(typ), byte(typ>>8)
		b[18], b[19] = byte(code), byte(code>>8)
		b[20], b[21], b[22], b[23] = byte(value), byte(value>>8), byte(value>>16), byte(value>>24)
		return b
	}
	var stream []byte
	stream = append(stream, ev(evKey, 30, 1)...)       // another key
	stream = append(stream, ev(evKey, keyPower, 0)...) // release only
	if scanPowerKey(strings.NewReader(string(stream))) {
		t.Error("power reported without a press")
	}
	stream = append(stream, ev(evKey, keyPower, 1)...)
	if !scanPowerKey(strings.NewReader(string(stream))) {
		t.Error("press not reported")
	}
}

func TestUsableServices(t *testing.T) {
	cfg := &Config{Services: []Service{
		{Name: "console", Command: []string{"sh"}, TTY: "/dev/null"},
		{Name: "missing", Command: []string{"sh"}, TTY: "/dev/nonexistent-tty"},
		{Name: "runtime", Command: []string{"serve"}, After: []string{"missing"}},
	}}
	got := usableServices(cfg, false, quietLogger())
	if len(got.Services) != 2 || got.Services[1].Name != "runtime" || len(got.Services[1].After) != 0 {
		t.Errorf("got %+v", got.Services)
	}
	if got := usableServices(cfg, true, quietLogger()); len(got.Services) != 1 {
		t.Errorf("command mode kept consoles: %+v", got.Services)
	}
}

func TestSafelyRecovers(t *testing.T) {
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	safely(log, "test", func() { panic("boom") })
	if !strings.Contains(logged.String(), "recovered from panic") || !strings.Contains(logged.String(), "boom") {
		t.Errorf("log = %q", logged.String())
	}
}

// runCommand runs the test binary as its shell: INITSYS_CHILD makes it
// the child of the given mode (see TestMain) instead.
func TestRunCommandStatus(t *testing.T) {
	r := NewReaper()
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	t.Setenv("INITSYS_CHILD", "crash")
	var out strings.Builder
	if st := runCommand(context.Background(), r, "ignored", &out, &out); st != 3 {
		t.Errorf("status %d, want the command's 3", st)
	}
	if !strings.Contains(out.String(), "crashing") {
		t.Errorf("output %q", out.String())
	}
	t.Setenv("INITSYS_CHILD", "stubborn")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if st := runCommand(ctx, r, "ignored", &out, &out); st != 128+int(syscall.SIGKILL) {
		t.Errorf("killed command: status %d, want %d", st, 128+int(syscall.SIGKILL))
	}
	// No process state (Wait failed): a status, not a nil dereference
	// that would leave PID 1 reaping forever instead of powering off.
	if st := shellStatus(nil); st != 127 {
		t.Errorf("no state: status %d, want 127", st)
	}
}

func TestStatusAccess(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	hostname, _ := os.Hostname()
	allow, err := parseAllow("10.0.2.2,192.168.7.0/24")
	if err != nil {
		t.Fatal(err)
	}
	const token = "secret"
	guarded := StatusAccess{Token: token, Allow: allow}.Guard(ok)
	public := StatusAccess{Token: token, Public: true}.Guard(ok)
	for _, tc := range []struct {
		name    string
		h       http.Handler
		remote  string
		host    string
		target  string
		header  string
		want    int
		cookies bool
	}{
		{"loopback needs no token", guarded, "127.0.0.1:4000", "127.0.0.1:8080", "/status", "", 200, false},
		{"IPv6 loopback", guarded, "[::1]:4000", "[::1]:8080", "/status", "", 200, false},
		{"localhost by name", guarded, "127.0.0.1:4000", "localhost:8080", "/status", "", 200, false},
		{"this host's name", guarded, "127.0.0.1:4000", hostname, "/status", "", 200, false},
		{"the VM's forward", guarded, "10.0.2.2:4000", "127.0.0.1:45123", "/status", "", 200, false},
		{"an allowed prefix", guarded, "192.168.7.9:4000", "192.168.7.1:8080", "/", "", 200, false},
		{"another machine without a token", guarded, "192.0.2.1:4000", "192.0.2.10:8080", "/status", "", 401, false},
		{"another machine, wrong token", guarded, "192.0.2.1:4000", "192.0.2.10:8080", "/status?token=guess", "", 401, false},
		{"another machine, bearer token", guarded, "192.0.2.1:4000", "192.0.2.10:8080", "/logs", "Bearer " + token, 200, false},
		{"another machine, query token sets a cookie", guarded, "192.0.2.1:4000", "192.0.2.10:8080", "/?token=" + token, "", 200, true},
		{"DNS rebinding to loopback", guarded, "127.0.0.1:4000", "evil.example:8080", "/status", "", 421, false},
		{"DNS rebinding with the token", guarded, "192.0.2.1:4000", "evil.example", "/status", "Bearer " + token, 421, false},
		{"public: no token", public, "192.0.2.1:4000", "192.0.2.10:8080", "/status", "", 200, false},
		{"public: Host still checked", public, "192.0.2.1:4000", "evil.example", "/status", "", 421, false},
	} {
		r := httptest.NewRequest("GET", tc.target, nil)
		r.RemoteAddr, r.Host = tc.remote, tc.host
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		w := httptest.NewRecorder()
		tc.h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s: %d, want %d (%s)", tc.name, w.Code, tc.want, w.Body.String())
		}
		if got := len(w.Result().Cookies()) > 0; got != tc.cookies {
			t.Errorf("%s: cookie set %v, want %v", tc.name, got, tc.cookies)
		}
		if tc.cookies {
			// The cookie alone admits the browser's next requests.
			r := httptest.NewRequest("GET", "/status", nil)
			r.RemoteAddr, r.Host = tc.remote, tc.host
			r.AddCookie(w.Result().Cookies()[0])
			w := httptest.NewRecorder()
			tc.h.ServeHTTP(w, r)
			if w.Code != 200 {
				t.Errorf("%s: with the cookie: %d", tc.name, w.Code)
			}
		}
	}
	// Without a token configured, no token admits anybody.
	r := httptest.NewRequest("GET", "/status?token=", nil)
	r.RemoteAddr, r.Host = "192.0.2.1:4000", "192.0.2.10"
	r.Header.Set("Authorization", "Bearer ")
	w := httptest.NewRecorder()
	StatusAccess{}.Guard(ok).ServeHTTP(w, r)
	if w.Code != 401 {
		t.Errorf("empty token admitted: %d", w.Code)
	}
	if _, err := parseAllow("10.0.2.2,nonsense"); err == nil {
		t.Error("bad allow list accepted")
	}
}

// The TCP status page of StartHost is guarded; a busy port is reported,
// never a URL that points at another program.
func TestStatusTCP(t *testing.T) {
	leaktest.Check(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	sys, err := StartHost(context.Background(), HostOptions{Config: &Config{}, StatusAddr: busy.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	url, err := sys.StatusURL()
	if url != "" || err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("busy port: StatusURL = %q, %v", url, err)
	}
	sys.Shutdown(context.Background())

	sys, err = StartHost(context.Background(), HostOptions{Config: &Config{}, StatusAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown(context.Background())
	url, err = sys.StatusURL()
	if err != nil || !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":0/") {
		t.Fatalf("StatusURL = %q, %v", url, err)
	}
	if len(sys.StatusToken()) != 32 {
		t.Errorf("token %q", sys.StatusToken())
	}
	c := http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url + "status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("loopback: %s", resp.Status)
	}
	req, _ := http.NewRequest("GET", url+"status", nil)
	req.Host = "rebound.example"
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: %s", resp.Status)
	}
}

// What is at the socket path is replaced only if it is a stale socket.
func TestStatusSocketPath(t *testing.T) {
	leaktest.Check(t)
	dir := t.TempDir()
	start := func(socket string) (*System, error) {
		return StartHost(context.Background(), HostOptions{Config: &Config{}, Socket: socket})
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := start(file); err == nil || !strings.Contains(err.Error(), "is not a socket but a regular file") {
		t.Errorf("regular file: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Errorf("the file was replaced: %q", b)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := start(empty); err == nil || !strings.Contains(err.Error(), "is not a socket but a directory") {
		t.Errorf("empty directory: %v", err)
	}
	if fi, err := os.Stat(empty); err != nil || !fi.IsDir() {
		t.Errorf("the directory was removed: %v", err)
	}

	// A stale socket (its server gone) is replaced.
	socket := filepath.Join(dir, "init.sock")
	stale, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	first, err := start(socket)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	askSocket := func() error {
		c := http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}}}
		resp, err := c.Get("http://ainative/status")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}

	// A live one is not: the second instance fails, naming the first,
	// and the first keeps its socket.
	_, err = start(socket)
	if want := fmt.Sprintf("in use by process %d", os.Getpid()); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("second instance: %v, want an error saying %q", err, want)
	}
	if err := askSocket(); err != nil {
		t.Errorf("the first instance lost its socket: %v", err)
	}
	first.Shutdown(context.Background())
	if _, err := os.Lstat(socket); !os.IsNotExist(err) {
		t.Errorf("socket left after Shutdown: %v", err)
	}

	// An instance removes the socket at its end only if it is its own.
	first, err = start(socket)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(socket)
	other, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	first.Shutdown(context.Background())
	if _, err := os.Lstat(socket); err != nil {
		t.Errorf("Shutdown removed another instance's socket: %v", err)
	}
}
