package store

import (
	"fmt"
	"regexp"
	"strings"
)

// HFHost is the host part of names pulled from the Hugging Face Hub;
// huggingface.co is accepted as a synonym, as Ollama accepts it.
const HFHost = "hf.co"

// DefaultTag is the tag of a name given without one.
const DefaultTag = "latest"

// Name is a model's name in the store, written like Ollama's:
// "qwen2.5:0.5b", "myteam/helper" (tag latest), or
// "hf.co/OWNER/REPO:QUANT" for a model pulled from the hub, where the tag
// chooses the quantization.
type Name struct {
	Host string // HFHost, or "" for a name of this store only
	Path string // "OWNER/REPO" for the hub; "model" or "namespace/model" otherwise
	Tag  string
}

var (
	namePart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$`)
	tagPart  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
)

// ParseName parses a model name. Names of this store (no host) are
// lower-cased, as Ollama's are case-insensitive; hub names keep their case,
// which the hub's repository ids and file names carry.
func ParseName(s string) (Name, error) {
	if s == "" {
		return Name{}, fmt.Errorf("empty model name")
	}
	if IsURL(s) {
		return Name{}, fmt.Errorf("model name %q is a URL: pull it, naming the model with --name", s)
	}
	path, tag := s, DefaultTag
	if i := strings.LastIndexByte(s, ':'); i > strings.LastIndexByte(s, '/') {
		path, tag = s[:i], s[i+1:]
		if !tagPart.MatchString(tag) {
			return Name{}, fmt.Errorf("model name %q: tag %q must be letters, digits, '_', '.' or '-' (at most 128, not starting with '.' or '-')", s, tag)
		}
	}
	parts := strings.Split(path, "/")
	var n Name
	if len(parts) > 1 && strings.Contains(parts[0], ".") {
		host := strings.ToLower(parts[0])
		if host == "huggingface.co" {
			host = HFHost
		}
		if host != HFHost {
			return Name{}, fmt.Errorf("model name %q: unknown registry %q (models come from hf.co/OWNER/REPO, a URL, or ainative import)", s, parts[0])
		}
		n.Host = host
		parts = parts[1:]
		if len(parts) != 2 {
			return Name{}, fmt.Errorf("model name %q: a hub model is named hf.co/OWNER/REPO[:QUANT]", s)
		}
	}
	if len(parts) > 2 {
		return Name{}, fmt.Errorf("model name %q has more than two path parts (use NAME or NAMESPACE/NAME)", s)
	}
	for _, p := range parts {
		if !namePart.MatchString(p) || strings.Contains(p, "..") {
			return Name{}, fmt.Errorf("model name %q: part %q must be letters, digits, '_', '.' or '-' (at most 96, starting with a letter or digit)", s, p)
		}
	}
	n.Path = strings.Join(parts, "/")
	if n.Host == "" {
		n.Path = strings.ToLower(n.Path)
		tag = strings.ToLower(tag)
	}
	n.Tag = tag
	return n, nil
}

// MustParseName is ParseName for names known to be valid (aliases, tests).
func MustParseName(s string) Name {
	n, err := ParseName(s)
	if err != nil {
		panic(err)
	}
	return n
}

// String writes the name as ParseName reads it, tag included.
func (n Name) String() string {
	s := n.Path + ":" + n.Tag
	if n.Host != "" {
		s = n.Host + "/" + s
	}
	return s
}

// IsHub reports whether the name refers to a Hugging Face repository.
func (n Name) IsHub() bool { return n.Host == HFHost }

// Repo is the hub repository id, OWNER/REPO, of a hub name.
func (n Name) Repo() string { return n.Path }

// manifestPath is where the name's manifest lives, relative to the
// manifests directory: every part has been checked by ParseName, so the
// path cannot leave that directory.
func (n Name) manifestPath() string {
	host := n.Host
	if host == "" {
		host = "local"
	}
	return host + "/" + n.Path + "/" + n.Tag
}

// IsURL reports whether s is an http(s) URL rather than a name.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// Aliases map short names of well-known small instruct models to the hub
// repositories and quantizations they are pulled from. The model is
// stored under the short name, as asked. (The repositories and their file
// names were chosen from the hub's published GGUF repositories; they could
// not be checked from this build machine, which has no internet.)
var Aliases = map[string]string{
	"qwen2.5:0.5b": "hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M",
	"qwen2.5:1.5b": "hf.co/Qwen/Qwen2.5-1.5B-Instruct-GGUF:Q4_K_M",
	"qwen3:0.6b":   "hf.co/Qwen/Qwen3-0.6B-GGUF:Q8_0",
	"llama3.2:1b":  "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
	"llama3.2:3b":  "hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M",
	"smollm2:360m": "hf.co/bartowski/SmolLM2-360M-Instruct-GGUF:Q4_K_M",
	"gemma3:1b":    "hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M",
}

// alias returns the hub name an alias stands for.
func alias(n Name) (Name, bool) {
	target, ok := Aliases[n.String()]
	if !ok {
		return Name{}, false
	}
	return MustParseName(target), true
}
