package bus

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/BurntSushi/toml"
	busapi "github.com/raym33/ainative/client/bus"
)

// Policy says who may see which context and call which tools. The zero
// Policy is the documented default: a user's processes see their own
// context and everybody's public items, may call read tools, and need
// consent for every other tool; a tool registered by a process is callable
// by its own user (and root) only.
//
// Example (policy.toml):
//
//	consent_agents = ["/usr/local/bin/my-consent-ui"]
//	read_roots = ["/home", "/tmp"]
//	embedding_model = "nomic-embed-text"  # relevance by embeddings (a local model)
//
//	[[rule]]            # uid 65534 may never run commands
//	uids = [65534]
//	tools = ["run_command"]
//	action = "deny"
//
//	[[rule]]            # the editor may write files without asking
//	exes = ["/usr/bin/editor"]
//	effects = ["write"]
//	action = "allow"
//
//	[[context]]         # uid 1001 may read uid 1000's private "cwd" items
//	uids = [1001]
//	owners = [1000]
//	kinds = ["cwd"]
//
//	[[backend]]         # uid 1000's editor may use the remote backend "lab"
//	name = "lab"
//	uids = [1000]
//	exes = ["/usr/bin/editor"]
type Policy struct {
	// ConsentAgents are executables, beside ainative itself, that may
	// register as consent agents.
	ConsentAgents []string `toml:"consent_agents"`
	// ReadRoots limit list_dir and read_file (on top of the caller's own
	// permissions); empty means "/".
	ReadRoots []string `toml:"read_roots"`
	// Rules decide tool calls; the first that matches wins.
	Rules []Rule `toml:"rule"`
	// Context grants let callers see other users' private items.
	Context []ContextGrant `toml:"context"`
	// Backends let matching callers use remote backends through ai.chat;
	// without a grant a caller gets local models only.
	Backends []BackendGrant `toml:"backend"`
	// EmbeddingModel, when set, ranks relevance queries by the cosine
	// similarity of embeddings from this (local) model instead of the
	// full-text index. It is read here because this file is the bus's
	// only configuration.
	EmbeddingModel string `toml:"embedding_model"`
}

// BackendGrant lets matching callers (every listed uid and exe must match;
// an empty list matches anyone; grants for one backend add up) send
// ai.chat to models the runtime serves from the remote backend Name.
type BackendGrant struct {
	Name string   `toml:"name"`
	UIDs []uint32 `toml:"uids"`
	Exes []string `toml:"exes"`
}

// Rule matches a call by caller and tool; empty lists match anything.
type Rule struct {
	UIDs    []uint32 `toml:"uids"`
	Exes    []string `toml:"exes"`
	Tools   []string `toml:"tools"` // path.Match patterns
	Effects []string `toml:"effects"`
	Action  string   `toml:"action"` // allow, ask or deny
}

// ContextGrant lets matching callers see private items of Owners.
type ContextGrant struct {
	UIDs   []uint32 `toml:"uids"`
	Exes   []string `toml:"exes"`
	Owners []uint32 `toml:"owners"`
	Kinds  []string `toml:"kinds"`
}

// Actions of a rule.
const (
	Allow = "allow"
	Ask   = "ask"
	Deny  = "deny"
)

// PolicyPaths are where LoadPolicy looks, first found wins.
func PolicyPaths(home string) []string {
	return []string{"/etc/ainative/policy.toml", filepath.Join(home, "policy.toml")}
}

// LoadPolicy reads the first policy file of paths that exists; with none
// it returns the default policy.
func LoadPolicy(paths ...string) (*Policy, string, error) {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("policy %s: %w", p, err)
		}
		pol, err := ParsePolicy(b)
		if err != nil {
			return nil, "", fmt.Errorf("policy %s: %w", p, err)
		}
		return pol, p, nil
	}
	return &Policy{}, "", nil
}

// ParsePolicy decodes and checks a policy; unknown keys are errors, so a
// typo cannot silently loosen nothing or tighten nothing.
func ParsePolicy(b []byte) (*Policy, error) {
	var p Policy
	md, err := toml.Decode(string(b), &p)
	if err != nil {
		return nil, err
	}
	if un := md.Undecoded(); len(un) > 0 {
		return nil, fmt.Errorf("unknown key %q", un[0].String())
	}
	for i, r := range p.Rules {
		switch r.Action {
		case Allow, Ask, Deny:
		default:
			return nil, fmt.Errorf("rule %d: action %q is not allow, ask or deny", i+1, r.Action)
		}
		for _, t := range r.Tools {
			if _, err := path.Match(t, ""); err != nil {
				return nil, fmt.Errorf("rule %d: tool pattern %q: %w", i+1, t, err)
			}
		}
		for _, e := range r.Effects {
			if !validEffect(e) {
				return nil, fmt.Errorf("rule %d: effect %q is not read, write, destructive or network", i+1, e)
			}
		}
	}
	for i, b := range p.Backends {
		if b.Name == "" {
			return nil, fmt.Errorf("backend %d: name is required", i+1)
		}
	}
	for _, r := range p.ReadRoots {
		if !filepath.IsAbs(r) {
			return nil, fmt.Errorf("read_roots: %q is not an absolute path", r)
		}
	}
	return &p, nil
}

func validEffect(e string) bool {
	switch e {
	case busapi.EffectRead, busapi.EffectWrite, busapi.EffectDestructive, busapi.EffectNetwork:
		return true
	}
	return false
}

func matchCaller(uids []uint32, exes []string, c busapi.Identity) bool {
	return (len(uids) == 0 || slices.Contains(uids, c.UID)) && (len(exes) == 0 || slices.Contains(exes, c.Exe))
}

// decide returns allow, ask or deny for caller calling a tool with the
// given effect owned by owner, and why.
// Tools registered by a process default to their owner's uid only, root's
// included; the bus's own tools to everyone.
func (p *Policy) decide(caller busapi.Identity, tool, effect string, registered bool, owner uint32) (string, string) {
	for i, r := range p.Rules {
		if !matchCaller(r.UIDs, r.Exes, caller) {
			continue
		}
		if len(r.Effects) > 0 && !slices.Contains(r.Effects, effect) {
			continue
		}
		if len(r.Tools) > 0 && !slices.ContainsFunc(r.Tools, func(pat string) bool { ok, _ := path.Match(pat, tool); return ok }) {
			continue
		}
		return r.Action, fmt.Sprintf("policy rule %d", i+1)
	}
	if registered && owner != caller.UID && caller.UID != 0 {
		return Deny, "tool belongs to another user"
	}
	if effect == busapi.EffectRead {
		return Allow, "default: read tools are allowed"
	}
	return Ask, "default: " + effect + " tools need consent"
}

// mayUseBackend reports whether caller may reach the remote backend name.
// Gateways relay for outside clients the bus cannot identify, so they
// get local models only.
func (p *Policy) mayUseBackend(caller busapi.Identity, gateway bool, name string) (bool, string) {
	if gateway {
		return false, "a gateway for outside MCP clients gets local models only"
	}
	for i, b := range p.Backends {
		if b.Name == name && matchCaller(b.UIDs, b.Exes, caller) {
			return true, fmt.Sprintf("policy backend %d", i+1)
		}
	}
	return false, "no [[backend]] grant in the policy names this program (default: local models only)"
}

// canSee reports whether caller may see item. Gateways never see secrets.
func (p *Policy) canSee(caller busapi.Identity, gateway bool, it *busapi.Item) bool {
	if it.Sensitivity == busapi.Secret {
		return !gateway && it.Owner.UID == caller.UID
	}
	if it.Owner.UID == caller.UID || it.Sensitivity == busapi.Public {
		return true
	}
	for _, g := range p.Context {
		if matchCaller(g.UIDs, g.Exes, caller) && slices.Contains(g.Owners, it.Owner.UID) &&
			(len(g.Kinds) == 0 || slices.Contains(g.Kinds, it.Kind)) {
			return true
		}
	}
	return false
}

// underRoots reports whether the absolute, cleaned path p lies in a read root.
func (p *Policy) underRoots(name string) bool {
	if len(p.ReadRoots) == 0 {
		return true
	}
	for _, r := range p.ReadRoots {
		r = filepath.Clean(r)
		if name == r || r == "/" || len(name) > len(r) && name[:len(r)] == r && name[len(r)] == '/' {
			return true
		}
	}
	return false
}
