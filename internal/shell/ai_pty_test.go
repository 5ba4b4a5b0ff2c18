package shell

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raym33/ainative/internal/api"
	"github.com/raym33/ainative/internal/leaktest"
	"github.com/raym33/ainative/internal/testdata/testruntime"
)

// The AI tests drive the interactive shell on a pseudo-terminal against
// two backends: the real runtime serving a synthesized tiny model (random
// weights, so its proposals are gibberish, but constrained decoding makes
// them well-formed), and a scripted Ollama-protocol backend for exact
// proposals and for an answer that never ends. Both record the requests
// they receive, so what left the shell is checked where it arrived.

// recorder keeps the bodies of the chat requests a backend received.
type recorder struct {
	mu     sync.Mutex
	bodies []string
}

func (rc *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/chat" {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			rc.mu.Lock()
			rc.bodies = append(rc.bodies, string(b))
			rc.mu.Unlock()
			r.Body = io.NopCloser(strings.NewReader(string(b)))
		}
		h.ServeHTTP(w, r)
	})
}

func (rc *recorder) all() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.bodies...)
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		srv.Close()
	})
	return "http://" + l.Addr().String()
}

// startRuntime serves a tiny synthesized chat model named "tiny" from a
// real store and runtime, as `ainative serve` does.
func startRuntime(t *testing.T) (string, *recorder) {
	t.Helper()
	rt, st, logger := testruntime.Tiny(t, 2048)
	rec := &recorder{}
	srv := api.New(api.Config{Runtime: rt, Models: st, Logger: logger})
	return serve(t, rec.wrap(srv.Handler())), rec
}

// scripted is an Ollama-protocol backend answering every chat with
// answer, streamed in pieces; with hang set it sends the first piece and
// then waits for the client to go away, reporting that on cancelled.
type scripted struct {
	answer    string
	hang      bool
	cancelled chan struct{}
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/chat" {
		http.NotFound(w, r)
		return
	}
	var req struct {
		Model  string          `json:"model"`
		Format json.RawMessage `json:"format"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Format) == 0 {
		http.Error(w, "want a model and a format", 400)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	piece := func(s string, done bool) {
		enc.Encode(map[string]any{"model": req.Model, "message": map[string]string{"role": "assistant", "content": s}, "done": done})
		w.(http.Flusher).Flush()
	}
	if s.hang {
		piece(`{"command": "ea`, false)
		<-r.Context().Done()
		close(s.cancelled)
		return
	}
	for rest := s.answer; len(rest) > 0; {
		n := min(7, len(rest))
		piece(rest[:n], false)
		rest = rest[n:]
	}
	piece("", true)
}

func proposalJSON(cmd, expl string) string {
	b, _ := json.Marshal(proposal{Command: cmd, Explanation: expl})
	return string(b)
}

func TestAIProposalConfirmed(t *testing.T) {
	url := serve(t, &scripted{answer: proposalJSON("echo pro\"\"posed-ran", "prints a word")})
	sh := startShell(t, "AINATIVE_HOST="+url, "AINATIVE_MODEL=scripted")
	sh.send("? print a word\r")
	sh.expect("# prints a word\r\n")
	sh.expect("# risk: none")
	// The proposal is typed into the line, not run: Enter runs it.
	sh.expectPrompt()
	sh.expect(`echo pro""posed-ran`)
	sh.send("\r")
	if out := sh.expectPrompt(); !strings.Contains(out, "proposed-ran\r\n") {
		t.Errorf("confirmed proposal: %q", out)
	}
}

func TestAIProposalDiscarded(t *testing.T) {
	url := serve(t, &scripted{answer: proposalJSON("touch pro\"\"posed-file", "makes a file")})
	sh := startShell(t, "AINATIVE_HOST="+url, "AINATIVE_MODEL=scripted")
	sh.send("? make a file\r")
	sh.expect("# makes a file")
	sh.expectPrompt()
	sh.expect(`touch pro""posed-file`)
	sh.send("\x03") // discard
	sh.expectPrompt()
	if out := sh.run(`echo st""atus $?`); !strings.Contains(out, "status 130") {
		t.Errorf("after discarding: %q", out)
	}
	if _, err := os.Stat(filepath.Join(sh.dir, "proposed-file")); !os.IsNotExist(err) {
		t.Errorf("the discarded proposal ran: %v", err)
	}
}

func TestAIHighRiskNeedsYes(t *testing.T) {
	// rm -rf of a directory directly in the home directory is high risk;
	// HOME here is the test's own directory, and the target a marker.
	url := serve(t, &scripted{answer: proposalJSON("rm -r -f ~/victim", "deletes victim")})
	sh := startShell(t, "AINATIVE_HOST="+url, "AINATIVE_MODEL=scripted")
	victim := filepath.Join(sh.dir, "victim")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	sh.run("HOME=" + sh.dir)
	for i, answer := range []string{"y", "yes"} {
		sh.send("? delete victim\r")
		sh.expect("# risk: high: recursive deletion")
		sh.expect("type yes")
		sh.expectPrompt()
		sh.expect("rm -r -f ~/victim")
		sh.send("\r")
		sh.expect("type yes to run it: ")
		sh.send(answer + "\r")
		out := sh.expectPrompt()
		_, err := os.Stat(victim)
		switch i {
		case 0:
			if !strings.Contains(out, "not run") || err != nil {
				t.Fatalf("answered %q: %q, victim: %v", answer, out, err)
			}
		case 1:
			if !os.IsNotExist(err) {
				t.Fatalf("answered yes: %q, victim still there: %v", out, err)
			}
		}
	}
}

func TestAIOff(t *testing.T) {
	backend := &recorder{}
	url := serve(t, backend.wrap(&scripted{answer: proposalJSON("true", "x")}))
	sh := startShell(t, "AINATIVE_HOST="+url, "AINATIVE_MODEL=scripted")
	sh.run("ai off")
	if out := sh.run("? list files"); !strings.Contains(out, "ai: off") {
		t.Errorf("? with ai off: %q", out)
	}
	if out := sh.run("ai status"); !strings.Contains(out, "ai: off, model scripted") {
		t.Errorf("ai status: %q", out)
	}
	if n := len(backend.all()); n != 0 {
		t.Errorf("%d requests reached the runtime with ai off", n)
	}
	// Off from the start by the environment too.
	sh2 := startShell(t, "AINATIVE_HOST="+url, "AINATIVE_MODEL=scripted", "AINATIVE_AI=off")
	if out := sh2.run("? list files"); !strings.Contains(out, "ai: off") {
		t.Errorf("AINATIVE_AI=off: %q", out)
	}
	sh.run("ai on")
	sh.send("? list\r")
	sh.expect("# risk: none")
	if n := len(backend.all()); n != 1 {
		t.Errorf("ai on: %d requests, want 1", n)
	}
}

func TestAICtrlCCancelsAnswer(t *testing.T) {
	leaktest.Check(t)
	b := &scripted{hang: true, cancelled: make(chan struct{})}
	url := serve(t, b)
	sh := startShell(t, "AINATIVE_HOST="+url, "AINATIVE_MODEL=scripted")
	sh.send("? something slow\r")
	sh.expect(`{"command": "ea`) // the first piece, streamed
	sh.send("\x03")
	sh.expect("ai: cancelled")
	sh.expectPrompt()
	select {
	case <-b.cancelled:
	case <-time.After(30 * time.Second):
		t.Fatal("the backend never saw the request cancelled")
	}
	if out := sh.run(`echo al""ive`); !strings.Contains(out, "alive") {
		t.Errorf("after cancelling: %q", out)
	}
}

func TestAINoModel(t *testing.T) {
	sh := startShell(t, "AINATIVE_HOST=127.0.0.1:1", "AINATIVE_MODEL=")
	if out := sh.run("? list files"); !strings.Contains(out, "ai: no model set: export AINATIVE_MODEL=NAME") {
		t.Errorf("no model: %q", out)
	}
	sh.run("export AINATIVE_MODEL=tiny")
	if out := sh.run("? list files"); !strings.Contains(out, "no ainative runtime is running") {
		t.Errorf("no runtime: %q", out)
	}
}

// The real runtime: a proposal streams, parses, shows its risk line and
// is discarded; secrets in the environment and in typed commands never
// reach the runtime.
func TestAIRealRuntimeRedaction(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a model")
	}
	url, rec := startRuntime(t)
	const token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
	const pass = "hunter2-very-secret"
	sh := startShell(t, "AINATIVE_HOST="+url, "AINATIVE_MODEL=tiny", "GITHUB_TOKEN="+token)
	sh.run("export DB_PASSWORD=" + pass)
	sh.run("echo https://bob:" + pass + "@example.com/repo.git > /dev/null")
	ctxOut := sh.run("ai context")
	if strings.Contains(ctxOut, pass) || !strings.Contains(ctxOut, "Recent commands:") || !strings.Contains(ctxOut, "[REDACTED]") {
		t.Errorf("ai context: %q", ctxOut)
	}
	sh.send("? list the files here with " + token + "\r")
	sh.expect("# risk: ")
	sh.expectPrompt()
	sh.send("\x03")
	sh.expectPrompt()
	bodies := rec.all()
	if len(bodies) != 1 {
		t.Fatalf("%d requests, want 1", len(bodies))
	}
	for _, secret := range []string{token, pass} {
		if strings.Contains(bodies[0], secret) {
			t.Errorf("the runtime received the secret %q: %s", secret, bodies[0])
		}
	}
	var req struct {
		Format   map[string]any `json:"format"`
		Messages []struct{ Content string }
	}
	if err := json.Unmarshal([]byte(bodies[0]), &req); err != nil {
		t.Fatal(err)
	}
	if req.Format["type"] != "object" || len(req.Messages) != 2 || !strings.Contains(req.Messages[1].Content, "Request: list the files here with [REDACTED") {
		t.Errorf("request: %s", bodies[0])
	}
}

// ?! sends the failed command and its status, and proposes a fix.
func TestAIFixLastFailure(t *testing.T) {
	rec := &recorder{}
	url := serve(t, rec.wrap(&scripted{answer: proposalJSON("echo fi\"\"xed", "the fix")}))
	sh := startShell(t, "AINATIVE_HOST="+url, "AINATIVE_MODEL=scripted")
	if out := sh.run("?!"); !strings.Contains(out, "no failed command") {
		t.Errorf("?! with nothing failed: %q", out)
	}
	sh.run("ai stderr on")
	sh.run("nosuchcommand-xyz --flag")
	sh.send("?!\r")
	sh.expect("# the fix")
	sh.expectPrompt()
	sh.expect(`echo fi""xed`)
	sh.send("\r")
	if out := sh.expectPrompt(); !strings.Contains(out, "fixed\r\n") {
		t.Errorf("fix: %q", out)
	}
	bodies := rec.all()
	if len(bodies) != 1 || !strings.Contains(bodies[0], "Last failed command (status 127): nosuchcommand-xyz --flag") ||
		!strings.Contains(bodies[0], "not found") {
		t.Errorf("request: %q", bodies)
	}
}

// ?? explains the parts of the command from its syntax tree; the real
// model fills one explanation per part.
func TestAIExplainRealRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a model")
	}
	url, rec := startRuntime(t)
	sh := startShell(t, "AINATIVE_HOST="+url, "AINATIVE_MODEL=tiny")
	sh.send("?? grep -rn TODO src | sort\r")
	out := sh.expect("# risk: none")
	for _, part := range []string{"\r\n  grep ", "\r\n  -rn ", "\r\n  TODO ", "\r\n  src ", "\r\n  |  ", "\r\n  sort "} {
		if !strings.Contains(out, part) {
			t.Errorf("no line for %q in %q", part, out)
		}
	}
	if b := rec.all(); len(b) != 1 || !strings.Contains(b[0], `"required":["1","2","3","4","5","6"]`) {
		t.Errorf("request: %q", b)
	}
}

func TestGuardWarns(t *testing.T) {
	sh := startShell(t, "AINATIVE_SHELL_TEST_GUARD=1")
	if err := os.Mkdir(filepath.Join(sh.dir, "keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	sh.run("HOME=" + sh.dir)
	sh.send("rm -r -f ~/keep\r")
	sh.expect("warning: risk: high: recursive deletion")
	sh.expect("run it anyway? [y/N] ")
	sh.send("\r")
	if out := sh.expectPrompt(); !strings.Contains(out, "not run") {
		t.Errorf("guard: %q", out)
	}
	if _, err := os.Stat(filepath.Join(sh.dir, "keep")); err != nil {
		t.Fatalf("guarded command ran: %v", err)
	}
	// Ordinary commands pass without a question.
	if out := sh.run(`echo pl""ain`); !strings.Contains(out, "plain") || strings.Contains(out, "warning") {
		t.Errorf("plain command under guard: %q", out)
	}
	sh.send("rm -r -f ~/keep\r")
	sh.expect("run it anyway? [y/N] ")
	sh.send("y\r")
	sh.expectPrompt()
	if _, err := os.Stat(filepath.Join(sh.dir, "keep")); !os.IsNotExist(err) {
		t.Fatalf("confirmed command did not run: %v", err)
	}
}

// Control characters in a proposal are shown as spaces, never acted on as
// keys: a carriage return must not run the proposal by itself.
func TestAIProposalControlCharacters(t *testing.T) {
	url := serve(t, &scripted{answer: proposalJSON("touch ctl\"\"-file\r\x03\x1b[2K", "x\r\x1b[31mred")})
	sh := startShell(t, "AINATIVE_HOST="+url, "AINATIVE_MODEL=scripted")
	sh.send("? something\r")
	out := sh.expect("# risk: none")
	if strings.Contains(out, "\x1b[31m") {
		t.Errorf("an escape sequence of the model reached the terminal: %q", out)
	}
	sh.expectPrompt()
	sh.expect(`touch ctl""-file`)
	if _, err := os.Stat(filepath.Join(sh.dir, "ctl-file")); !os.IsNotExist(err) {
		t.Fatalf("the proposal ran without Enter: %v", err)
	}
	sh.send("\x03")
	sh.expectPrompt()
	if out := sh.run(`echo st""ill-here`); !strings.Contains(out, "still-here") {
		t.Errorf("after: %q", out)
	}
	if _, err := os.Stat(filepath.Join(sh.dir, "ctl-file")); !os.IsNotExist(err) {
		t.Fatalf("the proposal ran: %v", err)
	}
}
