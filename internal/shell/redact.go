package shell

import (
	"regexp"
	"sort"
	"strings"
)

// Redaction runs on everything the shell sends to a model (its context
// and the request itself), so that secrets typed in commands, held in the
// environment or printed in errors never leave the shell.

// secretName matches environment and shell variable names that hold
// secrets by convention.
var secretName = regexp.MustCompile(`(?i)(token|secret|passw(or)?d|passphrase|api_?key|access_?key|private_?key|credential|auth|session|cookie|_pass$|^pass$|_pwd$|dsn$)`)

var secretPatterns = []struct {
	re   *regexp.Regexp
	repl string
}{
	// Private keys, PEM or OpenSSH, whole blocks.
	{regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)`), "[REDACTED PRIVATE KEY]"},
	// URLs with credentials: keep the scheme and host.
	{regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/\s:@'"]+:[^/\s@'"]+@`), "${1}[REDACTED]@"},
	// Assignments of secret-looking names: export X=..., X=..., --password=...
	{regexp.MustCompile(`(?i)\b([A-Za-z_][A-Za-z0-9_]*(?:token|secret|passw(?:or)?d|passphrase|api_?key|access_?key|private_?key|credential|auth)[A-Za-z0-9_]*)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s;&|]+)`), "${1}${2}[REDACTED]"},
	// Header-style secrets.
	{regexp.MustCompile(`(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}`), "${1} [REDACTED]"},
	// Well-known token shapes.
	{regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|sk-[A-Za-z0-9_-]{16,}|xox[abposr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{30,}|glpat-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{20,})\b`), "[REDACTED TOKEN]"},
	// JSON Web Tokens.
	{regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b`), "[REDACTED TOKEN]"},
	// Password options: --password x, --pass=x (not the short -p).
	{regexp.MustCompile(`(--pass(?:word)?(?:=|\s+))("[^"]*"|'[^']*'|\S+)`), "${1}[REDACTED]"},
}

// redactor removes secrets from text; env holds NAME=value pairs whose
// values are secret when their names look secret.
type redactor struct {
	values []string // secret values, longest first
}

func newRedactor(env []string) *redactor {
	r := &redactor{}
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || len(val) < 4 || !secretName.MatchString(name) {
			continue
		}
		r.values = append(r.values, val)
	}
	sort.Slice(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
	return r
}

// redact returns text with every secret replaced by a [REDACTED...] mark.
func (r *redactor) redact(text string) string {
	for _, v := range r.values {
		text = strings.ReplaceAll(text, v, "[REDACTED]")
	}
	for _, p := range secretPatterns {
		text = p.re.ReplaceAllString(text, p.repl)
	}
	return text
}
