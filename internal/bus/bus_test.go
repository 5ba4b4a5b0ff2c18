package bus

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	busapi "github.com/raym33/ainative/client/bus"
	"github.com/raym33/ainative/internal/leaktest"
)

const nobody = 65534

// TestMain runs the child modes: the test binary re-executed (as another
// uid) is a real second process on the bus.
func TestMain(m *testing.M) {
	if os.Getenv(testMCPServerEnv) != "" {
		runTestMCPServer() // exits
	}
	if mode := os.Getenv("BUS_CHILD"); mode != "" {
		if err := child(mode); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func child(mode string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := busapi.Dial(ctx, os.Getenv("AINATIVE_BUS"))
	if err != nil {
		return err
	}
	defer c.Close()
	out := json.NewEncoder(os.Stdout)
	switch mode {
	case "query":
		items, err := c.Query(ctx, busapi.QueryParams{Text: os.Getenv("BUS_QUERY")})
		if err != nil {
			return err
		}
		return out.Encode(items)
	case "call":
		text, err := c.CallTool(ctx, os.Getenv("BUS_TOOL"), json.RawMessage(os.Getenv("BUS_ARGS")))
		if err != nil {
			return out.Encode(map[string]string{"error": err.Error()})
		}
		return out.Encode(map[string]string{"text": text})
	case "forge":
		// Identity fields a client sends are not part of the protocol; a
		// forger adds them anyway.
		var r busapi.PublishResult
		err := c.Call(ctx, busapi.MethodContextPublish, map[string]any{"kind": "note", "text": "forged", "sensitivity": "public",
			"owner": map[string]any{"uid": 0, "pid": 1, "exe": "/sbin/init"}, "uid": 0, "caller": map[string]any{"uid": 0}}, &r)
		if err != nil {
			return err
		}
		return out.Encode(r)
	case "consent":
		err := c.ServeConsent(ctx, func(context.Context, busapi.ConsentRequest) (bool, error) { return true, nil })
		if err != nil {
			fmt.Println("refused:", err)
		} else {
			fmt.Println("ready")
		}
		io.Copy(io.Discard, os.Stdin) // until the test closes stdin
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// testBus is a bus on a socket in a directory other uids can reach, and a
// copy of the test binary they can run.
type testBus struct {
	s      *Server
	sock   string
	dir    string // world-readable scratch directory
	binary string
}

func startBus(t *testing.T, pol *Policy) *testBus { return startBusAgents(t, pol, true) }

// startBusAgents starts a bus; childAgents lets the test binary's copy
// register as a consent agent.
func startBusAgents(t *testing.T, pol *Policy, childAgents bool) *testBus {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to start children as another uid")
	}
	dir, err := os.MkdirTemp("", "bustest")
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
	bin := filepath.Join(dir, "child.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if pol == nil {
		pol = &Policy{}
	}
	if childAgents {
		pol.ConsentAgents = append(pol.ConsentAgents, bin)
	}
	s, err := New(Config{Dir: t.TempDir(), Policy: pol, ConsentTimeout: 5 * time.Second, Logger: nil})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "bus.sock")
	serveOn(t, s, sock)
	return &testBus{s: s, sock: sock, dir: dir, binary: bin}
}

// childCmd prepares the test binary in mode as uid.
func (b *testBus) childCmd(uid uint32, mode string, env ...string) *exec.Cmd {
	cmd := exec.Command(b.binary)
	cmd.Env = append([]string{"BUS_CHILD=" + mode, "AINATIVE_BUS=" + b.sock, "PATH=/usr/bin:/bin"}, env...)
	cmd.Dir = b.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	cmd.Stderr = os.Stderr
	return cmd
}

func (b *testBus) run(t *testing.T, uid uint32, mode string, out any, env ...string) {
	t.Helper()
	o, err := b.childCmd(uid, mode, env...).Output()
	if err != nil {
		t.Fatalf("child %s as uid %d: %v", mode, uid, err)
	}
	if m, ok := out.(*map[string]string); ok {
		*m = nil
	}
	if err := json.Unmarshal(o, out); err != nil {
		t.Fatalf("child %s output %q: %v", mode, o, err)
	}
}

// consentAgent starts a child consent agent as uid; it approves everything.
func (b *testBus) consentAgent(t *testing.T, uid uint32) {
	t.Helper()
	cmd := b.childCmd(uid, "consent")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("consent agent as uid %d: %q, %v", uid, line, err)
	}
}

func (b *testBus) dial(t *testing.T) *busapi.Client {
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

func TestContextVisibilityAcrossUsers(t *testing.T) {
	leaktest.Check(t)
	b := startBus(t, nil)
	ctx := context.Background()
	root := b.dial(t)
	for _, it := range []busapi.PublishParams{
		{Kind: "note", Text: "zebra public note", Sensitivity: busapi.Public},
		{Kind: "note", Text: "zebra private note", Sensitivity: busapi.Private},
		{Kind: "note", Text: "zebra secret note", Sensitivity: busapi.Secret},
	} {
		if _, err := root.Publish(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	var seen []busapi.Item
	b.run(t, nobody, "query", &seen, "BUS_QUERY=zebra")
	if len(seen) != 1 || seen[0].Text != "zebra public note" {
		t.Fatalf("uid %d saw %+v, want only the public item", nobody, seen)
	}
	own, err := root.Query(ctx, busapi.QueryParams{Text: "zebra"})
	if err != nil || len(own) != 3 {
		t.Fatalf("owner saw %d items (%v), want 3", len(own), err)
	}
	gw := b.dial(t)
	if _, err := gw.Hello(ctx, busapi.RoleGateway); err != nil {
		t.Fatal(err)
	}
	if items, err := gw.Query(ctx, busapi.QueryParams{}); err != nil || len(items) != 2 {
		t.Fatalf("gateway saw %d items (%v), want 2 (no secret)", len(items), err)
	}
}

func TestForgedIdentityIgnored(t *testing.T) {
	b := startBus(t, nil)
	var r busapi.PublishResult
	b.run(t, nobody, "forge", &r)
	it, err := b.s.store.get(context.Background(), r.ID, time.Now())
	if err != nil || it == nil {
		t.Fatalf("item %d: %v", r.ID, err)
	}
	if it.Owner.UID != nobody || it.Owner.Exe != b.binary {
		t.Fatalf("owner %+v, want uid %d exe %s from the kernel", it.Owner, nobody, b.binary)
	}
}

func TestDeniedTools(t *testing.T) {
	b := startBus(t, &Policy{Rules: []Rule{{UIDs: []uint32{nobody}, Tools: []string{"list_dir"}, Action: Deny}}})
	ctx := context.Background()
	root := b.dial(t)
	called := make(chan busapi.Identity, 1)
	err := root.Register(ctx, busapi.ToolSpec{Name: "root.secret_tool", Effect: busapi.EffectRead,
		InputSchema: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}`)},
		func(_ context.Context, call busapi.ToolCallParams) (busapi.ToolResult, error) {
			called <- call.Caller
			return busapi.ToolResult{Text: "answer"}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]string
	b.run(t, nobody, "call", &res, "BUS_TOOL=root.secret_tool", `BUS_ARGS={"q":"x"}`)
	if !strings.Contains(res["error"], "another user") {
		t.Fatalf("uid %d calling root's tool: %v", nobody, res)
	}
	b.run(t, nobody, "call", &res, "BUS_TOOL=list_dir", `BUS_ARGS={"path":"/"}`)
	if !strings.Contains(res["error"], "denied: policy rule 1") {
		t.Fatalf("uid %d calling list_dir: %v", nobody, res)
	}
	select {
	case id := <-called:
		t.Fatalf("denied tool ran for %+v", id)
	default:
	}
	// The owner's own process calls it; the provider sees the kernel's identity.
	other := b.dial(t)
	if _, err := other.CallTool(ctx, "root.secret_tool", map[string]any{"q": 1}); err == nil || !strings.Contains(err.Error(), "schema") {
		t.Fatalf("bad arguments: %v, want a schema error", err)
	}
	text, err := other.CallTool(ctx, "root.secret_tool", map[string]any{"q": "x"})
	if err != nil || text != "answer" {
		t.Fatalf("owner's call: %q, %v", text, err)
	}
	if id := <-called; id.UID != 0 || id.PID != int32(os.Getpid()) {
		t.Fatalf("provider saw caller %+v", id)
	}
	recs, err := root.Audit(ctx, busapi.AuditQuery{Target: "root.secret_tool"})
	if err != nil || len(recs) != 3 || recs[0].Decision != busapi.DecisionDenied || recs[0].Caller.UID != nobody {
		t.Fatalf("audit %+v, %v", recs, err)
	}
}

func TestRunCommandConsent(t *testing.T) {
	b := startBus(t, nil)
	w := filepath.Join(b.dir, "w")
	if err := os.Mkdir(w, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(w, 0o777); err != nil { // past the umask: uid 65534 writes here
		t.Fatal(err)
	}
	out := filepath.Join(w, "ran")
	args := fmt.Sprintf(`BUS_ARGS={"command":"id -u > %s; echo $BUS_TOKEN"}`, out)
	// No consent path: never runs.
	var res map[string]string
	b.run(t, nobody, "call", &res, "BUS_TOOL=run_command", args, "BUS_TOKEN=hunter2")
	if !strings.Contains(res["error"], "no consent agent") {
		t.Fatalf("without an agent: %v", res)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("command ran without consent: %v", err)
	}
	// Root's agent cannot answer for uid 65534.
	b.consentAgent(t, 0)
	b.run(t, nobody, "call", &res, "BUS_TOOL=run_command", args, "BUS_TOKEN=hunter2")
	if !strings.Contains(res["error"], "no consent agent") {
		t.Fatalf("another user's agent was asked: %v", res)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("command ran on another user's consent: %v", err)
	}
	// The user's own agent approves; it runs as the caller, secrets stripped.
	b.consentAgent(t, nobody)
	b.run(t, nobody, "call", &res, "BUS_TOOL=run_command", args, "BUS_TOKEN=hunter2")
	if res["error"] != "" || strings.Contains(res["text"], "hunter2") || !strings.Contains(res["text"], "[exit status 0]") {
		t.Fatalf("approved run: %v", res)
	}
	got, err := os.ReadFile(out)
	if err != nil || strings.TrimSpace(string(got)) != "65534" {
		t.Fatalf("command ran as %q (%v), want uid 65534", got, err)
	}
	recs, err := b.s.audit.query(busapi.AuditQuery{Target: "run_command"})
	if err != nil {
		t.Fatal(err)
	}
	var ds []string
	for _, r := range recs {
		ds = append(ds, r.Decision)
	}
	if strings.Join(ds, ",") != "no-consent-path,no-consent-path,asked,approved" {
		t.Fatalf("audit decisions %v", ds)
	}
}

func TestReadFileWithCallerPermissions(t *testing.T) {
	b := startBus(t, nil)
	secret := filepath.Join(b.dir, "rootonly")
	if err := os.WriteFile(secret, []byte("root data"), 0o600); err != nil {
		t.Fatal(err)
	}
	var res map[string]string
	b.run(t, nobody, "call", &res, "BUS_TOOL=read_file", `BUS_ARGS={"path":"rootonly"}`)
	if !strings.Contains(res["error"], "permission denied") {
		t.Fatalf("uid %d read a 0600 root file: %v", nobody, res)
	}
	text, err := b.dial(t).CallTool(context.Background(), "read_file", map[string]any{"path": secret})
	if err != nil || text != "root data" {
		t.Fatalf("root read: %q %v", text, err)
	}
}

func TestOfficialSDKClientOnSocket(t *testing.T) {
	b := startBus(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := net.Dial("unix", b.sock)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "plain"}, nil).Connect(ctx, &mcp.IOTransport{Reader: nc, Writer: nc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	if strings.Join(names, ",") != "list_dir,read_file,run_command,system_info" {
		t.Fatalf("tools %v", names)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_dir", Arguments: map[string]any{"path": b.dir}})
	if err != nil || res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "child.test") {
		t.Fatalf("list_dir: %+v %v", res, err)
	}
}

func TestOversizedAndFlood(t *testing.T) {
	b := startBus(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// An oversized message closes only its own connection.
	big, err := net.Dial("unix", b.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	go big.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"ainative/context.publish","params":{"text":"` + strings.Repeat("a", 2*MaxMessage) + "\"}}\n"))
	// A flood of requests whose answers are never read.
	flood, err := net.Dial("unix", b.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	go func() {
		line := []byte(`{"jsonrpc":"2.0","id":"x","method":"ainative/context.query","params":{}}` + "\n")
		for ctx.Err() == nil {
			if _, err := flood.Write(line); err != nil {
				return
			}
		}
	}()
	c := b.dial(t)
	for i := range 20 {
		if _, err := c.Publish(ctx, busapi.PublishParams{Kind: "note", Text: fmt.Sprint("n", i)}); err != nil {
			t.Fatalf("publish %d during flood: %v", i, err)
		}
	}
	// The oversized sender's connection is closed by the bus.
	big.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, big)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("oversized connection still open: %v", err)
	}
}

func TestPinnedPeerExited(t *testing.T) {
	a, bconn := testSocketPair(t)
	defer a.Close()
	defer bconn.Close()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	p, err := peerOf(a)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	if !p.alive() {
		t.Fatal("self reported exited")
	}
	// A peer pinned on a process that then exits is never read again.
	q := &peer{Identity: busapi.Identity{PID: int32(cmd.Process.Pid)}, pidfd: mustPidfd(t, cmd.Process.Pid)}
	defer q.close()
	if _, err := q.readProc("status"); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := q.readProc("environ"); !errors.Is(err, errExited) {
		t.Fatalf("read after exit: %v, want errExited", err)
	}
	if _, err := q.cwd(); !errors.Is(err, errExited) {
		t.Fatalf("cwd after exit: %v", err)
	}
}

func TestConsentRequestAndAgentRules(t *testing.T) {
	b := startBusAgents(t, nil, false)
	ctx := context.Background()
	// An executable the policy does not name cannot answer consent.
	cmd := b.childCmd(nobody, "consent")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "refused:") || !strings.Contains(string(out), "may not answer consent") {
		t.Fatalf("unlisted agent: %q %v", out, err)
	}
	// ainative itself (here: the test binary, the bus's own executable) may.
	agent := b.dial(t)
	asked := make(chan busapi.ConsentRequest, 1)
	if err := agent.ServeConsent(ctx, func(_ context.Context, r busapi.ConsentRequest) (bool, error) { asked <- r; return false, nil }); err != nil {
		t.Fatal(err)
	}
	mark := filepath.Join(b.dir, "marker")
	_, err = b.dial(t).CallTool(ctx, "run_command", map[string]any{"command": "echo x > " + mark + "; rm -rf ~"})
	if err == nil || !strings.Contains(err.Error(), "consent refused") {
		t.Fatalf("refused call: %v", err)
	}
	r := <-asked
	if r.Tool != "run_command" || r.Effect != busapi.EffectDestructive || r.Risk == nil || r.Risk.Level != "high" || len(r.Risk.Reasons) == 0 {
		t.Fatalf("consent request %+v", r)
	}
	if _, err := os.Stat(mark); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused command ran: %v", err)
	}
	recs, err := agent.Audit(ctx, busapi.AuditQuery{Decision: busapi.DecisionRefused})
	if err != nil || len(recs) != 1 {
		t.Fatalf("audit %+v %v", recs, err)
	}
}
