package shell

import (
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"
)

func TestRedact(t *testing.T) {
	r := newRedactor([]string{"GITHUB_TOKEN=tok-value-123", "MY_API_KEY=k3y-value", "PATH=/usr/bin", "SHORT_TOKEN=ab"})
	for _, c := range []struct{ in, secret string }{
		{"echo tok-value-123", "tok-value-123"},
		{"curl -H k3y-value x", "k3y-value"},
		{"export DB_PASSWORD=hunter2", "hunter2"},
		{"DB_PASSWORD='pa ss' ./run", "pa ss"},
		{"mysql --password=s3cr3t db", "s3cr3t"},
		{"git clone https://bob:pa55w0rd@example.com/r.git", "pa55w0rd"},
		{"curl -H 'Authorization: Bearer abcdefghijklmnop' x", "abcdefghijklmnop"},
		{"use ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"},
		{"key sk-proj-ABCDEFGHIJKLMNOPQRST", "sk-proj-ABCDEFGHIJKLMNOPQRST"},
		{"AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP"},
		{"jwt eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4", "SflKxwRJSMeKKF2QT4"},
		{"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXk"},
	} {
		out := r.redact(c.in)
		if strings.Contains(out, c.secret) || !strings.Contains(out, "REDACTED") {
			t.Errorf("redact(%q) = %q", c.in, out)
		}
	}
	for _, keep := range []string{"ls -la /usr/bin", "git clone https://example.com/r.git", "echo ab", "make test"} {
		if out := r.redact(keep); out != keep {
			t.Errorf("redact(%q) = %q, want it unchanged", keep, out)
		}
	}
}

func TestParts(t *testing.T) {
	f, err := syntax.NewParser().Parse(strings.NewReader(`FOO=1 grep -rn "a b" src | sort > out.txt && echo done &`), "")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(parts(f), " ¦ ")
	want := `FOO=1 ¦ grep ¦ -rn ¦ "a b" ¦ src ¦ | ¦ sort ¦ >out.txt ¦ && ¦ echo ¦ done ¦ &`
	if got != want {
		t.Errorf("parts:\n got %s\nwant %s", got, want)
	}
	s := string(explainSchema(2))
	if s != `{"type":"object","properties":{"1":{"type":"string","maxLength":160},"2":{"type":"string","maxLength":160}},"required":["1","2"],"additionalProperties":false}` {
		t.Errorf("schema %s", s)
	}
}
