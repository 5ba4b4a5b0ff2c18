package bus

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/BurntSushi/toml"
)

// MCPServer is one external MCP server the bus attaches as a tool
// provider, from a [[mcp_server]] table of bus.toml. Its tools appear on
// the bus as "NAME.tool" under the same policy, consent and audit as any
// other tool.
//
// Example (bus.toml):
//
//	[[mcp_server]]              # a stdio server, run as uid "nobody"
//	name = "files"
//	command = "/usr/local/bin/files-mcp"
//	args = ["--root", "/srv/share"]
//	env = { LOG_LEVEL = "warn" }
//	pass_env = ["FILES_TOKEN"]  # copied from the bus's own environment
//	effect = "write"            # default for its tools (write when unset)
//	tool_effects = { search = "read", delete = "destructive" }
//	run_as = "nobody"
//	timeout = "30s"
//
//	[[mcp_server]]              # streamable HTTP, token from the bus's environment
//	name = "issues"
//	url = "https://mcp.example.com/mcp"
//	token_env = "ISSUES_TOKEN"  # sent as "Authorization: Bearer <value>"
//	effect = "network"
type MCPServer struct {
	// Name namespaces the server's tools ("NAME.tool"): a letter, then up
	// to 31 of A-Z a-z 0-9 _ -.
	Name string `toml:"name"`
	// Command, Args, Env, PassEnv and Dir start a stdio server. Its
	// environment is PATH, HOME, Env and the PassEnv variables of the bus,
	// nothing else of the bus's.
	Command string            `toml:"command"`
	Args    []string          `toml:"args"`
	Env     map[string]string `toml:"env"`
	PassEnv []string          `toml:"pass_env"`
	Dir     string            `toml:"dir"`
	// RunAs is the user (name or number) the command runs as. Empty means
	// "nobody" when the bus runs as root, the bus's own user otherwise.
	RunAs string `toml:"run_as"`
	// URL reaches a streamable-HTTP server: https, or http on loopback.
	URL string `toml:"url"`
	// TokenEnv names a variable of the bus's environment whose value is
	// sent with every request: as "Authorization: Bearer VALUE", or as the
	// raw value of Header when Header is set.
	TokenEnv string `toml:"token_env"`
	Header   string `toml:"header"`
	// Effect is the default effect of the server's tools (write when
	// unset); ToolEffects overrides it per tool (keys: the server's own
	// tool names). The server's annotations can only tighten: a tool
	// without an entry here that the server marks destructive is
	// destructive; its read-only hints are ignored.
	Effect      string            `toml:"effect"`
	ToolEffects map[string]string `toml:"tool_effects"`
	// Timeout bounds each tool call (default DefaultMCPTimeout, at most
	// MaxMCPTimeout); starting a session and listing its tools get
	// at least 30 s.
	Timeout time.Duration `toml:"timeout"`
}

// Limits of external MCP servers.
const (
	DefaultMCPTimeout = 30 * time.Second
	MaxMCPTimeout     = 10 * time.Minute
	MaxMCPServers     = 32
)

var (
	serverName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,31}$`)
	headerName = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
	envName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
)

// busConfigFile is what bus.toml holds.
type busConfigFile struct {
	MCPServers []MCPServer `toml:"mcp_server"`
}

// ConfigPaths are where LoadMCPServers looks, first found wins.
func ConfigPaths(home string) []string {
	return []string{"/etc/ainative/bus.toml", filepath.Join(home, "bus.toml")}
}

// LoadMCPServers reads the first bus config file of paths that exists and
// returns its servers and its path; with none it returns no servers.
func LoadMCPServers(paths ...string) ([]MCPServer, string, error) {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("bus config %s: %w", p, err)
		}
		srv, err := ParseMCPServers(b)
		if err != nil {
			return nil, "", fmt.Errorf("bus config %s: %w", p, err)
		}
		return srv, p, nil
	}
	return nil, "", nil
}

// ParseMCPServers decodes and checks a bus config. Unknown keys are
// errors, so that a misspelt run_as or effect cannot silently fall back to
// a default.
func ParseMCPServers(b []byte) ([]MCPServer, error) {
	var f busConfigFile
	md, err := toml.Decode(string(b), &f)
	if err != nil {
		return nil, err
	}
	if un := md.Undecoded(); len(un) > 0 {
		return nil, fmt.Errorf("unknown key %q", un[0].String())
	}
	if len(f.MCPServers) > MaxMCPServers {
		return nil, fmt.Errorf("%d mcp_server tables exceed the limit of %d", len(f.MCPServers), MaxMCPServers)
	}
	seen := map[string]bool{}
	for i := range f.MCPServers {
		s := &f.MCPServers[i]
		if err := s.check(); err != nil {
			if s.Name != "" {
				return nil, fmt.Errorf("mcp_server %q: %w", s.Name, err)
			}
			return nil, fmt.Errorf("mcp_server %d: %w", i+1, err)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("mcp_server %q: name used twice", s.Name)
		}
		seen[s.Name] = true
	}
	return f.MCPServers, nil
}

// check validates one server and fills in its defaults.
func (s *MCPServer) check() error {
	if !serverName.MatchString(s.Name) {
		return fmt.Errorf("name %q must be a letter then up to 31 of A-Z a-z 0-9 _ -", s.Name)
	}
	if reservedNames[s.Name] {
		return fmt.Errorf("name %q is reserved", s.Name)
	}
	switch {
	case s.Command != "" && s.URL != "":
		return errors.New("give command or url, not both")
	case s.Command == "" && s.URL == "":
		return errors.New("give command (stdio) or url (streamable HTTP)")
	case s.Command != "":
		if !filepath.IsAbs(s.Command) {
			return fmt.Errorf("command %q is not an absolute path", s.Command)
		}
		if s.Dir != "" && !filepath.IsAbs(s.Dir) {
			return fmt.Errorf("dir %q is not an absolute path", s.Dir)
		}
		if s.URL != "" || s.TokenEnv != "" || s.Header != "" {
			return errors.New("token_env and header are for url servers")
		}
		for k := range s.Env {
			if !envName.MatchString(k) {
				return fmt.Errorf("env: %q is not a variable name", k)
			}
		}
		for _, k := range s.PassEnv {
			if !envName.MatchString(k) {
				return fmt.Errorf("pass_env: %q is not a variable name", k)
			}
		}
	default:
		if err := checkServerURL(s.URL); err != nil {
			return err
		}
		if len(s.Args) > 0 || len(s.Env) > 0 || len(s.PassEnv) > 0 || s.Dir != "" || s.RunAs != "" {
			return errors.New("args, env, pass_env, dir and run_as are for command servers")
		}
		if s.TokenEnv != "" && !envName.MatchString(s.TokenEnv) {
			return fmt.Errorf("token_env: %q is not a variable name", s.TokenEnv)
		}
		if s.Header != "" {
			if !headerName.MatchString(s.Header) {
				return fmt.Errorf("header %q is not a header name", s.Header)
			}
			if s.TokenEnv == "" {
				return errors.New("header needs token_env, the variable holding its value")
			}
		}
	}
	if s.Effect == "" {
		s.Effect = "write"
	}
	if !validEffect(s.Effect) {
		return fmt.Errorf("effect %q is not read, write, destructive or network", s.Effect)
	}
	for t, e := range s.ToolEffects {
		if !validEffect(e) {
			return fmt.Errorf("tool_effects.%s: effect %q is not read, write, destructive or network", t, e)
		}
	}
	switch {
	case s.Timeout == 0:
		s.Timeout = DefaultMCPTimeout
	case s.Timeout < 0 || s.Timeout > MaxMCPTimeout:
		return fmt.Errorf("timeout %s is not between 0 and %s", s.Timeout, MaxMCPTimeout)
	}
	return nil
}

// reservedNames are not server names: they would read as the bus's own.
var reservedNames = map[string]bool{"ainative": true, "bus": true, "system": true}

// checkServerURL allows https anywhere and plain http only on loopback,
// where a token cannot be read off the network.
func checkServerURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if u.Host == "" || u.User != nil {
		return fmt.Errorf("url %q needs a host and no user info", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("url %q: plain http only on loopback; use https", raw)
	}
	return fmt.Errorf("url %q: scheme must be https (or http on loopback)", raw)
}

// effectOf is the effect the bus gives the server's tool.
func (s *MCPServer) effectOf(tool string) string {
	if e, ok := s.ToolEffects[tool]; ok {
		return e
	}
	return s.Effect
}

// namespace is the prefix of the server's tools on the bus.
func (s *MCPServer) namespace() string { return s.Name + "." }

// isReserved reports whether name lies in a configured server's namespace.
func isReserved(servers []MCPServer, name string) (string, bool) {
	i := slices.IndexFunc(servers, func(s MCPServer) bool {
		return len(name) > len(s.Name) && name[:len(s.Name)+1] == s.namespace()
	})
	if i < 0 {
		return "", false
	}
	return servers[i].Name, true
}
