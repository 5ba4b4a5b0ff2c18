package bus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const exampleBusConfig = `
[[mcp_server]]
name = "files"
command = "/usr/local/bin/files-mcp"
args = ["--root", "/srv/share"]
env = { LOG_LEVEL = "warn" }
pass_env = ["FILES_TOKEN"]
tool_effects = { search = "read", delete = "destructive" }
run_as = "nobody"
timeout = "45s"

[[mcp_server]]
name = "issues"
url = "https://mcp.example.com/mcp"
token_env = "ISSUES_TOKEN"
effect = "network"
`

func TestParseMCPServersExample(t *testing.T) {
	srv, err := ParseMCPServers([]byte(exampleBusConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(srv) != 2 {
		t.Fatalf("%d servers, want 2", len(srv))
	}
	f, i := srv[0], srv[1]
	if f.Name != "files" || f.Command != "/usr/local/bin/files-mcp" || len(f.Args) != 2 || f.Env["LOG_LEVEL"] != "warn" ||
		f.RunAs != "nobody" || f.Timeout != 45*time.Second || f.PassEnv[0] != "FILES_TOKEN" {
		t.Fatalf("files: %+v", f)
	}
	if f.Effect != "write" || f.effectOf("search") != "read" || f.effectOf("delete") != "destructive" || f.effectOf("other") != "write" {
		t.Fatalf("files effects: default %q, search %q", f.Effect, f.effectOf("search"))
	}
	if i.URL != "https://mcp.example.com/mcp" || i.TokenEnv != "ISSUES_TOKEN" || i.Effect != "network" || i.Timeout != DefaultMCPTimeout {
		t.Fatalf("issues: %+v", i)
	}
	if name, ok := isReserved(srv, "files.search"); !ok || name != "files" {
		t.Fatalf("files.search reserved: %q %v", name, ok)
	}
	for _, free := range []string{"files", "filesx.a", "issue.a", "search"} {
		if _, ok := isReserved(srv, free); ok {
			t.Errorf("%q reported in a server's namespace", free)
		}
	}
}

func TestParseMCPServersErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`[[mcp_server]]
name = "a"
command = "/bin/x"
runas = "root"`, `unknown key "mcp_server.runas"`},
		{`[[mcp_server]]
name = "a.b"
command = "/bin/x"`, `name "a.b" must be`},
		{`[[mcp_server]]
name = "bus"
command = "/bin/x"`, `reserved`},
		{`[[mcp_server]]
name = "a"`, `give command (stdio) or url`},
		{`[[mcp_server]]
name = "a"
command = "/bin/x"
url = "https://x"`, `not both`},
		{`[[mcp_server]]
name = "a"
command = "x"`, `not an absolute path`},
		{`[[mcp_server]]
name = "a"
url = "http://example.com/mcp"`, `plain http only on loopback`},
		{`[[mcp_server]]
name = "a"
url = "ftp://localhost/"`, `scheme must be https`},
		{`[[mcp_server]]
name = "a"
url = "https://u:p@x/"`, `no user info`},
		{`[[mcp_server]]
name = "a"
url = "https://x/"
run_as = "root"`, `for command servers`},
		{`[[mcp_server]]
name = "a"
command = "/bin/x"
token_env = "T"`, `for url servers`},
		{`[[mcp_server]]
name = "a"
url = "https://x/"
header = "X-Key"`, `header needs token_env`},
		{`[[mcp_server]]
name = "a"
url = "https://x/"
header = "X Key"
token_env = "T"`, `not a header name`},
		{`[[mcp_server]]
name = "a"
command = "/bin/x"
effect = "root"`, `effect "root" is not`},
		{`[[mcp_server]]
name = "a"
command = "/bin/x"
tool_effects = { s = "reads" }`, `tool_effects.s`},
		{`[[mcp_server]]
name = "a"
command = "/bin/x"
timeout = "1h"`, `timeout 1h0m0s is not between`},
		{`[[mcp_server]]
name = "a"
command = "/bin/x"
env = { "A=B" = "c" }`, `not a variable name`},
		{`[[mcp_server]]
name = "a"
command = "/bin/x"
[[mcp_server]]
name = "a"
command = "/bin/y"`, `name used twice`},
		{`[[mcp_server]]
name = "a"
command = "/bin/x"
timeout = "soon"`, `soon`},
	} {
		_, err := ParseMCPServers([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\n-> %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
	var many strings.Builder
	for i := range MaxMCPServers + 1 {
		many.WriteString("[[mcp_server]]\nname = \"s" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "\"\ncommand = \"/bin/x\"\n")
	}
	if _, err := ParseMCPServers([]byte(many.String())); err == nil || !strings.Contains(err.Error(), "exceed the limit") {
		t.Errorf("%d servers: %v", MaxMCPServers+1, err)
	}
}

func TestLoadMCPServers(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none.toml")
	srv, from, err := LoadMCPServers(missing)
	if err != nil || from != "" || len(srv) != 0 {
		t.Fatalf("no file: %v %q %v", srv, from, err)
	}
	good := filepath.Join(dir, "bus.toml")
	if err := os.WriteFile(good, []byte(exampleBusConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, from, err = LoadMCPServers(missing, good)
	if err != nil || from != good || len(srv) != 2 {
		t.Fatalf("example: %d servers from %q, %v", len(srv), from, err)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[[mcp_server]]\nname = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadMCPServers(bad, good); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("bad file: %v", err)
	}
}

// FuzzParseMCPServers: any input gives servers that pass their own checks
// or an error, never a panic.
func FuzzParseMCPServers(f *testing.F) {
	f.Add(exampleBusConfig)
	f.Add("[[mcp_server]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/mcp\"\nheader = \"X-Key\"\ntoken_env = \"K\"\n")
	f.Add("[[mcp_server]]\nname = \"a\"\ncommand = \"/bin/x\"\ntimeout = -5\n")
	f.Add("mcp_server = 3")
	f.Add("[[mcp_server]]\nname = \"a\"\nurl = \"http://[::1]:80/\"\n")
	f.Fuzz(func(t *testing.T, in string) {
		srv, err := ParseMCPServers([]byte(in))
		if err != nil {
			return
		}
		for i := range srv {
			s := srv[i]
			if err := s.check(); err != nil {
				t.Fatalf("accepted server fails its check: %v", err)
			}
			if s.Timeout <= 0 || s.Timeout > MaxMCPTimeout || !validEffect(s.Effect) {
				t.Fatalf("accepted %+v", s)
			}
		}
	})
}
