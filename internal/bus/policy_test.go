package bus

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	busapi "github.com/raym33/ainative/client/bus"
)

func TestParsePolicyErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`[[rule]]` + "\n" + `action = "maybe"`, `action "maybe"`},
		{`[[rule]]` + "\n" + `action = "deny"` + "\n" + `effects = ["explode"]`, `effect "explode"`},
		{`[[rule]]` + "\n" + `action = "deny"` + "\n" + `tools = ["["]`, `tool pattern "["`},
		{`read_roots = ["home"]`, `"home" is not an absolute path`},
		{`consent_agent = ["/x"]`, `unknown key "consent_agent"`},
		{`[[rule]` + "\n", `expected`},
	} {
		if _, err := ParsePolicy([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
}

func TestPolicyDecisions(t *testing.T) {
	p, err := ParsePolicy([]byte(`
read_roots = ["/srv"]
[[rule]]
uids = [1001]
tools = ["run_*"]
action = "deny"
[[rule]]
exes = ["/usr/bin/editor"]
effects = ["write"]
action = "allow"
[[context]]
uids = [1001]
owners = [1000]
kinds = ["cwd"]
`))
	if err != nil {
		t.Fatal(err)
	}
	u1000 := busapi.Identity{UID: 1000, Exe: "/usr/bin/editor"}
	u1001 := busapi.Identity{UID: 1001, Exe: "/bin/app"}
	for _, c := range []struct {
		who                busapi.Identity
		tool, effect, want string
		registered         bool
		owner              uint32
	}{
		{u1001, "run_command", "destructive", Deny, false, 0},
		{u1000, "run_command", "destructive", Ask, false, 0},
		{u1000, "app.save", "write", Allow, true, 1000},
		{u1001, "app.save", "write", Deny, true, 1000}, // another user's tool
		{u1001, "app.look", "read", Deny, true, 0},     // root's registered tool
		{u1001, "list_dir", "read", Allow, false, 0},   // the bus's own read tool
		{u1001, "app.net", "network", Ask, true, 1001}, // own tool, not read
		{busapi.Identity{UID: 0}, "app.x", "read", Allow, true, 1000},
	} {
		if got, why := p.decide(c.who, c.tool, c.effect, c.registered, c.owner); got != c.want {
			t.Errorf("uid %d %s (%s): %s (%s), want %s", c.who.UID, c.tool, c.effect, got, why, c.want)
		}
	}
	item := func(owner uint32, kind, sens string) *busapi.Item {
		return &busapi.Item{Kind: kind, Sensitivity: sens, Owner: busapi.Identity{UID: owner}}
	}
	for _, c := range []struct {
		who  busapi.Identity
		gw   bool
		it   *busapi.Item
		want bool
	}{
		{u1001, false, item(1000, "cwd", busapi.Private), true},
		{u1001, false, item(1000, "selection", busapi.Private), false},
		{u1001, false, item(1000, "cwd", busapi.Secret), false},
		{u1001, false, item(1002, "cwd", busapi.Private), false},
		{u1001, false, item(1002, "cwd", busapi.Public), true},
		{u1000, false, item(1000, "token", busapi.Secret), true},
		{u1000, true, item(1000, "token", busapi.Secret), false},
	} {
		if got := p.canSee(c.who, c.gw, c.it); got != c.want {
			t.Errorf("uid %d gateway %v sees %+v: %v, want %v", c.who.UID, c.gw, c.it, got, c.want)
		}
	}
	for path, want := range map[string]bool{"/srv": true, "/srv/a": true, "/srvx": false, "/etc": false} {
		if p.underRoots(path) != want {
			t.Errorf("underRoots(%s) = %v", path, !want)
		}
	}
}

func TestLoadPolicy(t *testing.T) {
	dir := t.TempDir()
	p, from, err := LoadPolicy(filepath.Join(dir, "none.toml"))
	if err != nil || from != "" || len(p.Rules) != 0 {
		t.Fatalf("no file: %+v %q %v", p, from, err)
	}
	f := filepath.Join(dir, "policy.toml")
	os.WriteFile(f, []byte(`consent_agents = ["/x"]`), 0o644)
	p, from, err = LoadPolicy(filepath.Join(dir, "none.toml"), f)
	if err != nil || from != f || p.ConsentAgents[0] != "/x" {
		t.Fatalf("file: %+v %q %v", p, from, err)
	}
}

func TestStoreTTLRelevanceAndRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.db")
	st, err := openStore(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	me := busapi.Identity{UID: 7, Exe: "/bin/x"}
	all := func(*busapi.Item) bool { return true }
	for _, p := range []busapi.PublishParams{
		{Kind: "error", Text: "build failed: undefined symbol frobnicate", Sensitivity: busapi.Private},
		{Kind: "note", Text: "lunch at noon", Sensitivity: busapi.Private, TTLSeconds: 1},
		{Kind: "note", Text: "frobnicate frobnicate the widget", Sensitivity: busapi.Private},
	} {
		if err := checkPublish(&p); err != nil {
			t.Fatal(err)
		}
		if _, err := st.publish(ctx, me, p, now); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.query(ctx, busapi.QueryParams{Text: `frobnicate "OR NEAR(`}, now, all)
	if err != nil || len(got) != 2 || got[0].Text != "frobnicate frobnicate the widget" {
		t.Fatalf("relevance: %+v %v", got, err)
	}
	got, err = st.query(ctx, busapi.QueryParams{Kinds: []string{"note"}}, now.Add(2*time.Second), all)
	if err != nil || len(got) != 1 || got[0].Text != "frobnicate frobnicate the widget" {
		t.Fatalf("expired item returned: %+v %v", got, err)
	}
	st.close()
	st, err = openStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	if err := st.expire(ctx, now.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err = st.query(ctx, busapi.QueryParams{}, now, all)
	if err != nil || len(got) != 2 || got[0].Owner.UID != 7 {
		t.Fatalf("after restart and expiry: %+v %v", got, err)
	}
	for _, p := range []busapi.PublishParams{
		{Kind: "Bad Kind", Text: "x"},
		{Kind: "note", Text: strings.Repeat("x", MaxItemText+1)},
		{Kind: "note", Text: "x", Sensitivity: "topsecret"},
		{Kind: "note", Text: "x", TTLSeconds: -1},
	} {
		if err := checkPublish(&p); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

func TestCommandRisk(t *testing.T) {
	for cmd, want := range map[string]string{
		"ls -l /tmp":          "none",
		"rm -rf ~":            "high",
		"echo hi > /etc/motd": "high",
		"curl x | sh":         "high",
		"$(echo rm) -rf /":    "low",
	} {
		if got := commandRisk(cmd); got.Level != want || (want != "none") != (len(got.Reasons) > 0) {
			t.Errorf("%q: %+v, want %s with reasons", cmd, got, want)
		}
	}
}

// TestConnectionLimitPerUID: one user's idle (half-open) connections are
// capped; past the cap new ones are closed at once, other users are not
// affected.
func TestConnectionLimitPerUID(t *testing.T) {
	b := startBus(t, nil)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range MaxConnsPerUID {
		c, err := net.Dial("unix", b.sock)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Wait until the bus has admitted them all.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.s.mu.Lock()
		n := b.s.perUID[0]
		b.s.mu.Unlock()
		if n == MaxConnsPerUID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections admitted", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	extra, err := net.Dial("unix", b.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := extra.Read(make([]byte, 1)); n != 0 || err == nil || os.IsTimeout(err) {
		t.Fatalf("connection past the limit: %d, %v", n, err)
	}
	var res map[string]string
	b.run(t, nobody, "call", &res, "BUS_TOOL=list_dir", `BUS_ARGS={"path":"/"}`)
	if res["error"] != "" {
		t.Fatalf("another user was starved: %v", res)
	}
}
