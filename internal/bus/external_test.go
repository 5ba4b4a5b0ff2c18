package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	busapi "github.com/raym33/ainative/client/bus"
	"github.com/raym33/ainative/internal/leaktest"
)

// testMCPServerEnv switches the test binary into a stdio MCP server (see
// TestMain): a real external server process for the bus to supervise.
const testMCPServerEnv = "BUS_TEST_MCP_SERVER"

func runTestMCPServer() {
	if err := newTestMCPServer().Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, "test MCP server:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

type textArg struct {
	Text string `json:"text"`
}

type pathArg struct {
	Path string `json:"path"`
}

func textResult(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

// newTestMCPServer is the external server of these tests: echo (read),
// touch (writes a file: a side effect to check), env, hang (never
// answers), big (more than the output cap), wipe (annotated destructive,
// with no config entry) and grow (adds the tool
// "extra", so that the server announces tools/list_changed).
func newTestMCPServer() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "testsrv", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "echo text"}, func(_ context.Context, _ *mcp.CallToolRequest, in textArg) (*mcp.CallToolResult, any, error) {
		return textResult(fmt.Sprintf("echo %s uid=%d pid=%d", in.Text, os.Getuid(), os.Getpid())), nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "touch", Description: "create a file"}, func(_ context.Context, _ *mcp.CallToolRequest, in pathArg) (*mcp.CallToolResult, any, error) {
		return textResult("touched"), nil, os.WriteFile(in.Path, []byte("x"), 0o644)
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "env", Description: "the server's environment"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return textResult(strings.Join(os.Environ(), "\n")), nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "hang", Description: "never answers"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		select {} // ignores cancellation too: only the bus's limit ends the call
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "big", Description: "too much output"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return textResult(strings.Repeat("y", 3*MaxExternalOutput)), nil, nil
	})
	yes := true
	mcp.AddTool(srv, &mcp.Tool{Name: "wipe", Description: "marked destructive", Annotations: &mcp.ToolAnnotations{DestructiveHint: &yes}},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return textResult("wiped"), nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "grow", Description: "adds a tool"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		mcp.AddTool(srv, &mcp.Tool{Name: "extra"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return textResult("extra here"), nil, nil
		})
		return textResult("grown"), nil, nil
	})
	return srv
}

// readEffects marks every test tool read except touch, which keeps the
// default (write).
var readEffects = map[string]string{"echo": "read", "env": "read", "hang": "read", "big": "read", "grow": "read", "extra": "read"}

// extBus is a bus with external servers on a socket in a world-readable
// directory (the test binary is copied there, so that uid nobody can run
// it).
type extBus struct {
	s      *Server
	sock   string
	dir    string
	binary string
}

func startExtBus(t *testing.T, pol *Policy, servers func(bin string) []MCPServer) *extBus {
	t.Helper()
	dir, err := os.MkdirTemp("", "busext")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "mcpserver.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	srvs := servers(bin)
	for i := range srvs {
		if err := srvs[i].check(); err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(Config{Dir: t.TempDir(), Policy: pol, MCPServers: srvs})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "bus.sock")
	serveOn(t, s, sock)
	return &extBus{s: s, sock: sock, dir: dir, binary: bin}
}

func (b *extBus) dial(t *testing.T) *busapi.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := busapi.Dial(ctx, b.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond until it holds, failing the test after a minute (a
// bound on a broken test, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func statusOf(s *Server, name string) busapi.MCPServerStatus {
	for _, st := range s.MCPStatus() {
		if st.Name == name {
			return st
		}
	}
	return busapi.MCPServerStatus{}
}

func toolNames(t *testing.T, c *busapi.Client) []string {
	t.Helper()
	ts, err := c.ListTools(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range ts {
		names = append(names, tl.Name)
	}
	return names
}

// echoPID calls ext.echo and returns the server's uid and pid from its answer.
func echoPID(t *testing.T, c *busapi.Client, tool string) (uid, pid int) {
	t.Helper()
	out, err := c.CallTool(context.Background(), tool, map[string]any{"text": "hi"})
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	if _, err := fmt.Sscanf(out, "echo hi uid=%d pid=%d", &uid, &pid); err != nil {
		t.Fatalf("%s answered %q", tool, out)
	}
	return uid, pid
}

// TestExternalStdioServer runs the test binary as a stdio MCP server under
// the bus: as uid nobody when the test runs as root (the default run_as),
// as the test's own user otherwise.
func TestExternalStdioServer(t *testing.T) {
	leaktest.Check(t)
	serverUID := os.Geteuid()
	if serverUID == 0 {
		serverUID = nobody
	}
	t.Setenv("BUS_TEST_SECRET", "hunter2") // in the bus's environment, never the server's
	deniedUID := uint32(nobody)            // a caller the test starts as root
	if os.Geteuid() != 0 {
		deniedUID = 4242 // not this test's user
	}
	pol := &Policy{Rules: []Rule{
		{UIDs: []uint32{deniedUID}, Tools: []string{"ext.*"}, Action: Deny},
		{Tools: []string{"ext.b*"}, Action: Deny},
	}}
	b := startExtBus(t, pol, func(bin string) []MCPServer {
		return []MCPServer{
			{Name: "ext", Command: bin, Env: map[string]string{testMCPServerEnv: "1", "GREETING": "hello"},
				ToolEffects: readEffects, Timeout: 2 * time.Second},
			{Name: "broken", Command: "/nonexistent/mcp-server"},
		}
	})
	c := b.dial(t)
	ctx := context.Background()
	waitFor(t, "ext connected", func() bool { return statusOf(b.s, "ext").State == StateConnected })

	t.Run("failed server is reported, not fatal", func(t *testing.T) {
		var st busapi.MCPServerStatus
		waitFor(t, "broken failed", func() bool { st = statusOf(b.s, "broken"); return st.State == StateFailed })
		if !strings.Contains(st.Error, "/nonexistent/mcp-server") {
			t.Fatalf("broken's error %q does not name its command", st.Error)
		}
		sts, err := c.MCPStatus(ctx)
		if err != nil || len(sts) != 2 || sts[0].Name != "ext" || sts[0].State != StateConnected || sts[0].Tools != 7 {
			t.Fatalf("status over the bus: %+v, %v", sts, err)
		}
	})

	t.Run("tools appear namespaced", func(t *testing.T) {
		names := toolNames(t, c)
		for _, want := range []string{"ext.echo", "ext.touch", "ext.env", "ext.hang", "ext.grow", "list_dir"} {
			if !slices.Contains(names, want) {
				t.Errorf("tools/list lacks %s: %v", want, names)
			}
		}
		if slices.Contains(names, "ext.big") {
			t.Errorf("tools/list shows ext.big, which the policy denies")
		}
		ts, _ := c.ListTools(ctx)
		effects := map[string]any{}
		for _, tl := range ts {
			effects[tl.Name] = tl.Meta["ainative/effect"]
		}
		if effects["ext.touch"] != "write" || effects["ext.echo"] != "read" || effects["ext.wipe"] != "destructive" {
			t.Errorf("effects %v: want touch write (default), echo read (config), wipe destructive (server's hint)", effects)
		}
	})

	t.Run("read call runs as the default run_as", func(t *testing.T) {
		uid, _ := echoPID(t, c, "ext.echo")
		if uid != serverUID {
			t.Fatalf("server ran as uid %d, want %d", uid, serverUID)
		}
	})

	t.Run("environment is the config's only", func(t *testing.T) {
		env, err := c.CallTool(ctx, "ext.env", map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(env, "GREETING=hello") || strings.Contains(env, "hunter2") || strings.Contains(env, "BUS_TEST_SECRET") {
			t.Fatalf("server environment:\n%s", env)
		}
	})

	t.Run("write call without consent path never reaches the server", func(t *testing.T) {
		target := filepath.Join(b.dir, "touched")
		if err := os.Chmod(b.dir, 0o777); err != nil { // so that nobody could write it
			t.Fatal(err)
		}
		_, err := c.CallTool(ctx, "ext.touch", map[string]any{"path": target})
		if err == nil || !strings.Contains(err.Error(), ErrNoConsentPath.Error()) {
			t.Fatalf("ext.touch without a consent agent: %v", err)
		}
		if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the server ran ext.touch: %v", err)
		}
	})

	t.Run("policy deny holds", func(t *testing.T) {
		_, err := c.CallTool(ctx, "ext.big", map[string]any{})
		if err == nil || !strings.Contains(err.Error(), "denied") {
			t.Fatalf("ext.big under a deny rule: %v", err)
		}
		recs, err := c.Audit(ctx, busapi.AuditQuery{Target: "ext.big"})
		if err != nil || len(recs) != 1 || recs[0].Decision != busapi.DecisionDenied {
			t.Fatalf("audit of ext.big: %+v, %v", recs, err)
		}
	})

	t.Run("the caller's identity decides", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to run a caller as uid nobody")
		}
		cmd := exec.Command(b.binary)
		cmd.Env = []string{"BUS_CHILD=call", "AINATIVE_BUS=" + b.sock, "BUS_TOOL=ext.echo", `BUS_ARGS={"text":"hi"}`}
		cmd.Dir = b.dir
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, err := cmd.Output()
		if err != nil || !strings.Contains(string(out), "denied: policy rule 1") {
			t.Fatalf("uid %d calling ext.echo: %s, %v", nobody, out, err)
		}
	})

	t.Run("write call with consent runs as the server's user", func(t *testing.T) {
		agent := b.dial(t)
		if err := agent.ServeConsent(ctx, func(_ context.Context, r busapi.ConsentRequest) (bool, error) {
			return r.Tool == "ext.touch" && r.Effect == busapi.EffectWrite, nil
		}); err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(b.dir, "consented")
		if out, err := c.CallTool(ctx, "ext.touch", map[string]any{"path": target}); err != nil || out != "touched" {
			t.Fatalf("ext.touch with consent: %q, %v", out, err)
		}
		fi, err := os.Stat(target)
		if err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(serverUID) {
			t.Fatalf("the file ext.touch made: %v, %v", fi, err)
		}
		recs, err := c.Audit(ctx, busapi.AuditQuery{Target: "ext.touch"})
		var decisions []string
		for _, r := range recs {
			decisions = append(decisions, r.Decision)
		}
		if err != nil || !slices.Contains(decisions, busapi.DecisionNoAgent) || !slices.Contains(decisions, busapi.DecisionAsked) ||
			!slices.Contains(decisions, busapi.DecisionApproved) {
			t.Fatalf("audit of ext.touch: %v, %v", decisions, err)
		}
		agent.Close()
	})

	t.Run("namespace is reserved", func(t *testing.T) {
		err := c.Register(ctx, busapi.ToolSpec{Name: "ext.fake", Effect: busapi.EffectRead}, func(context.Context, busapi.ToolCallParams) (busapi.ToolResult, error) {
			return busapi.ToolResult{Text: "fake"}, nil
		})
		if err == nil || !strings.Contains(err.Error(), "namespace of MCP server") {
			t.Fatalf("registering ext.fake: %v", err)
		}
	})

	t.Run("hang hits the time limit", func(t *testing.T) {
		_, err := c.CallTool(ctx, "ext.hang", map[string]any{})
		if err == nil || !strings.Contains(err.Error(), "did not answer within 2s") {
			t.Fatalf("ext.hang: %v", err)
		}
	})

	t.Run("list_changed is followed", func(t *testing.T) {
		if _, err := c.CallTool(ctx, "ext.grow", map[string]any{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "ext.extra listed", func() bool { return slices.Contains(toolNames(t, c), "ext.extra") })
		if out, err := c.CallTool(ctx, "ext.extra", map[string]any{}); err != nil || out != "extra here" {
			t.Fatalf("ext.extra: %q, %v", out, err)
		}
	})

	t.Run("crashed server is restarted", func(t *testing.T) {
		_, pid := echoPID(t, c, "ext.echo")
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "ext restarted", func() bool {
			st := statusOf(b.s, "ext")
			return st.Restarts >= 1 && st.State == StateConnected
		})
		if _, pid2 := echoPID(t, c, "ext.echo"); pid2 == pid {
			t.Fatalf("same pid %d after the restart", pid)
		}
	})
}

// startHTTPServer serves the test MCP server over streamable HTTP on
// loopback, requiring the bearer token; it counts the requests it refused.
func startHTTPServer(t *testing.T, token string) (string, *atomic.Int64) {
	t.Helper()
	srv := newTestMCPServer()
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	var refused atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			refused.Add(1)
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	return hs.URL, &refused
}

func TestExternalHTTPServer(t *testing.T) {
	url, refused := startHTTPServer(t, "s3cret")
	t.Setenv("BUS_TEST_MCP_TOKEN", "s3cret")
	b := startExtBus(t, nil, func(string) []MCPServer {
		return []MCPServer{
			{Name: "web", URL: url, TokenEnv: "BUS_TEST_MCP_TOKEN", ToolEffects: readEffects},
			{Name: "notoken", URL: url, TokenEnv: "BUS_TEST_MCP_UNSET"},
		}
	})
	c := b.dial(t)
	ctx := context.Background()
	waitFor(t, "web connected", func() bool { return statusOf(b.s, "web").State == StateConnected })
	var st busapi.MCPServerStatus
	waitFor(t, "notoken failed", func() bool { st = statusOf(b.s, "notoken"); return st.State == StateFailed })
	if !strings.Contains(st.Error, "BUS_TEST_MCP_UNSET is not set") {
		t.Fatalf("notoken's error: %q", st.Error)
	}
	names := toolNames(t, c)
	if !slices.Contains(names, "web.echo") || slices.Contains(names, "notoken.echo") {
		t.Fatalf("tools: %v", names)
	}
	if _, pid := echoPID(t, c, "web.echo"); pid != os.Getpid() {
		t.Fatalf("web.echo answered from pid %d, want this process %d", pid, os.Getpid())
	}
	target := filepath.Join(t.TempDir(), "touched")
	if _, err := c.CallTool(ctx, "web.touch", map[string]any{"path": target}); err == nil || !strings.Contains(err.Error(), ErrNoConsentPath.Error()) {
		t.Fatalf("web.touch without a consent agent: %v", err)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the server ran web.touch: %v", err)
	}
	out, err := c.CallTool(ctx, "web.big", map[string]any{})
	if err != nil || len(out) > MaxExternalOutput+100 || !strings.Contains(out, "[output cut: ") {
		t.Fatalf("web.big: %d bytes, %v", len(out), err)
	}
	if refused.Load() != 0 {
		t.Fatalf("the server refused %d requests: the token was not sent", refused.Load())
	}
}

// TestExternalHTTPRedirect: a server that redirects is not followed, so
// its token never reaches the redirect's target.
func TestExternalHTTPRedirect(t *testing.T) {
	var leaked atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		http.Error(w, "no", http.StatusNotFound)
	}))
	defer target.Close()
	redir := httptest.NewServer(http.RedirectHandler(target.URL+"/mcp", http.StatusTemporaryRedirect))
	defer redir.Close()
	t.Setenv("BUS_TEST_MCP_TOKEN", "s3cret")
	b := startExtBus(t, nil, func(string) []MCPServer {
		return []MCPServer{{Name: "redir", URL: redir.URL + "/mcp", TokenEnv: "BUS_TEST_MCP_TOKEN"}}
	})
	var st busapi.MCPServerStatus
	waitFor(t, "redir failed", func() bool { st = statusOf(b.s, "redir"); return st.State == StateFailed })
	if !strings.Contains(st.Error, "redirects are not followed") || leaked.Load() != 0 {
		t.Fatalf("status %q; token sent to the redirect target %d times", st.Error, leaked.Load())
	}
}

// TestGatewayExposesExternal checks that mcp serve's gateway relays the
// external tools, under the same policy, both from a running bus and from
// a bus it starts in-process.
func TestGatewayExposesExternal(t *testing.T) {
	url, _ := startHTTPServer(t, "tok")
	t.Setenv("BUS_TEST_MCP_TOKEN", "tok")
	servers := []MCPServer{{Name: "web", URL: url, TokenEnv: "BUS_TEST_MCP_TOKEN", ToolEffects: readEffects}}
	if err := servers[0].check(); err != nil {
		t.Fatal(err)
	}
	pol := &Policy{Rules: []Rule{{Tools: []string{"web.env"}, Action: Deny}}}
	check := func(t *testing.T, c *busapi.Client) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		srv := NewGateway(c)
		ct, st := mcp.NewInMemoryTransports()
		ss, err := srv.Connect(ctx, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ss.Close()
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "outside", Version: "1"}, nil).Connect(ctx, ct, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		var names []string
		waitFor(t, "web.echo through the gateway", func() bool {
			res, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			names = names[:0]
			for _, tl := range res.Tools {
				names = append(names, tl.Name)
			}
			return slices.Contains(names, "web.echo")
		})
		if slices.Contains(names, "web.env") {
			t.Fatalf("the gateway lists web.env, which the policy denies: %v", names)
		}
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "web.echo", Arguments: map[string]any{"text": "hi"}})
		if err != nil || res.IsError || !strings.HasPrefix(res.Content[0].(*mcp.TextContent).Text, "echo hi uid=") {
			t.Fatalf("web.echo through the gateway: %+v, %v", res, err)
		}
		res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "web.touch", Arguments: map[string]any{"path": filepath.Join(t.TempDir(), "x")}})
		if err != nil || !res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "needs consent") {
			t.Fatalf("web.touch through the gateway: %+v, %v", res, err)
		}
	}
	t.Run("running bus", func(t *testing.T) {
		b := startExtBus(t, pol, func(string) []MCPServer { return servers })
		t.Setenv("AINATIVE_BUS", b.sock)
		c, closeFn, err := ConnectGateway(context.Background(), Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer closeFn()
		check(t, c)
	})
	t.Run("in-process bus", func(t *testing.T) {
		t.Setenv("AINATIVE_BUS", filepath.Join(t.TempDir(), "none.sock"))
		c, closeFn, err := ConnectGateway(context.Background(), Config{Dir: t.TempDir(), Policy: pol, MCPServers: servers})
		if err != nil {
			t.Fatal(err)
		}
		defer closeFn()
		check(t, c)
	})
}

func TestRunAsDefault(t *testing.T) {
	uid, _, _, err := runAsUser("")
	if err != nil {
		t.Fatal(err)
	}
	want := uint32(os.Geteuid())
	if want == 0 {
		want = nobody
	}
	if uid != want {
		t.Fatalf("default run_as uid %d, want %d", uid, want)
	}
	if uid, _, _, err := runAsUser(strconv.Itoa(os.Geteuid())); err != nil || uid != uint32(os.Geteuid()) {
		t.Fatalf("run_as own uid: %d, %v", uid, err)
	}
	if _, _, _, err := runAsUser("no-such-user-here"); err == nil {
		t.Fatal("run_as of an unknown user: no error")
	}
}

func TestCappedBody(t *testing.T) {
	small := &cappedBody{ReadCloser: io.NopCloser(strings.NewReader("hello")), left: MaxExternalMessage}
	if b, err := io.ReadAll(small); err != nil || string(b) != "hello" {
		t.Fatalf("small body: %q, %v", b, err)
	}
	huge := &cappedBody{ReadCloser: io.NopCloser(strings.NewReader(strings.Repeat("z", MaxExternalMessage+10))), left: MaxExternalMessage}
	b, err := io.ReadAll(huge)
	if err == nil || !strings.Contains(err.Error(), "exceeds") || len(b) != MaxExternalMessage {
		t.Fatalf("huge body: %d bytes, %v", len(b), err)
	}
}

func TestTailWriterKeepsLastLineCut(t *testing.T) {
	w := &tailWriter{log: slog.New(slog.DiscardHandler)}
	fmt.Fprintf(w, "first\nsecond line\n%s", strings.Repeat("x", 2000))
	if got := w.last(); len(got) != 512 || strings.Trim(got, "x") != "" {
		t.Fatalf("partial last line: %d bytes", len(got))
	}
	w.Write([]byte("\n"))
	fmt.Fprint(w, "fatal: no config\n\n")
	if got := w.last(); got != "fatal: no config" {
		t.Fatalf("last line %q", got)
	}
}

func TestExternalSchemaLoadsNothing(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "s.json")
	if err := os.WriteFile(secret, []byte(`{"type":"string"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"file://" + secret, "http://127.0.0.1:1/s.json"} {
		_, err := compileExternalSchema("x.y", json.RawMessage(`{"$ref":"`+ref+`"}`))
		if err == nil || !strings.Contains(err.Error(), "not loaded") {
			t.Errorf("$ref %s: %v", ref, err)
		}
	}
	sch, err := compileExternalSchema("x.y", json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}`))
	if err != nil {
		t.Fatal(err)
	}
	tl := &tool{spec: busapi.ToolSpec{Name: "x.y"}, schema: sch}
	if err := tl.validateArgs(json.RawMessage(`{"n":"three"}`)); err == nil {
		t.Fatal("arguments against the server's schema: no error")
	}
	if err := tl.validateArgs(json.RawMessage(`{"n":3}`)); err != nil {
		t.Fatal(err)
	}
}
