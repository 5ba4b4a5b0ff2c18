package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raym33/ainative/client"
	busapi "github.com/raym33/ainative/client/bus"
	"github.com/raym33/ainative/internal/api"
	"github.com/raym33/ainative/internal/runtime"
	modelstore "github.com/raym33/ainative/internal/store"
	"github.com/raym33/ainative/internal/testdata/testmodel"
	"github.com/raym33/ainative/internal/testdata/testruntime"
)

// The child modes of these tests (see TestMain for the others): a second
// process, usually as another uid, that asks the bus for a chat or talks
// to the runtime directly with a forged relay header.
func init() {
	mode := os.Getenv("BUS_CHILD")
	if mode != "chat" && mode != "direct" {
		return
	}
	if err := embedChild(mode); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func embedChild(mode string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := json.NewEncoder(os.Stdout)
	if mode == "direct" {
		rt, err := client.New("unix://" + os.Getenv("BUS_RUNTIME"))
		if err != nil {
			return err
		}
		ctx = client.OnBehalfOf(ctx, client.Caller{UID: 4242, GID: 4242, PID: 1, Exe: "/forged"})
		_, err = rt.List(ctx)
		return out.Encode(map[string]string{"error": fmt.Sprint(err)})
	}
	c, err := busapi.Dial(ctx, os.Getenv("AINATIVE_BUS"))
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := c.Chat(ctx, busapi.ChatParams{Model: os.Getenv("BUS_MODEL"), MaxTokens: 2, Context: true,
		Messages: []busapi.ChatMessage{{Role: "user", Content: "hello"}}})
	if err != nil {
		return out.Encode(map[string]string{"error": err.Error()})
	}
	return out.Encode(map[string]string{"text": res.Message.Content})
}

// logRecorder is an slog handler that keeps every record's message and
// attributes, so that a test can check what the runtime saw.
type logRecorder struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	l.mu.Lock()
	l.recs = append(l.recs, m)
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// find returns the records whose attributes include all of want.
func (l *logRecorder) find(want map[string]string) []map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]string
	for _, r := range l.recs {
		ok := true
		for k, v := range want {
			ok = ok && r[k] == v
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

// startRuntime serves the tiny synthesized model as "tiny" on the Unix
// socket sock (reachable by every uid), as ainative serve does, logging to
// rec. When it is listed in backends, models go to remote backends.
func startRuntime(t *testing.T, sock string, rec *logRecorder, backends *api.BackendsConfig) {
	t.Helper()
	rt, st, _ := testruntime.Tiny(t, 512)
	var h slog.Handler = slog.DiscardHandler
	if rec != nil {
		h = rec
	}
	srv := api.New(api.Config{Runtime: rt, Models: st, Backends: backends, Logger: slog.New(h)})
	hs := &http.Server{Handler: srv.Handler(), ConnContext: api.ConnContext}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	go hs.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
	})
}

// startBusConfig starts a bus as startBus does, with cfg's runtime hooks.
func startBusConfig(t *testing.T, cfg Config) *testBus {
	t.Helper()
	b := startBusAgents(t, cfg.Policy, false)
	// startBusAgents made a bus without the hooks: beside it, in the same
	// world-reachable directory, serve one with them.
	sock := filepath.Join(b.dir, "hooked.sock")
	return &testBus{s: serveBus(t, cfg, sock), sock: sock, dir: b.dir, binary: b.binary}
}

// serveBus serves a bus with cfg (in a fresh directory) on the socket
// sock, open to every uid, until the test ends.
func serveBus(t *testing.T, cfg Config, sock string) *Server {
	t.Helper()
	cfg.Dir = t.TempDir()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, s, sock)
	return s
}

// sharedDir is a scratch directory every uid can reach.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "busembed")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func texts(items []busapi.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Text)
	}
	return out
}

// TestEmbeddingRelevance: items published while the runtime is down are
// found by the full-text index (the outage logged once, no query fails);
// once it is up they are embedded, an item with the query's exact text
// ranks first, items sharing no word with the query are ranked too, and
// visibility holds: another uid sees only public items, a gateway no
// secret.
func TestEmbeddingRelevance(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a model")
	}
	rtSock := filepath.Join(t.TempDir(), "ai.sock")
	rt, err := client.New("unix://" + rtSock)
	if err != nil {
		t.Fatal(err)
	}
	busLog := &logRecorder{}
	b := startBusConfig(t, Config{EmbedModel: "tiny", Embed: RuntimeEmbed(rt, "tiny", RuntimeBackends(rt)), Logger: slog.New(busLog)})
	ctx := context.Background()
	root := b.dial(t)
	for _, it := range []busapi.PublishParams{
		{Kind: "note", Text: "alpha beta gamma", Sensitivity: busapi.Public},
		{Kind: "error", Text: "kernel panic in module foo", Sensitivity: busapi.Private},
		{Kind: "note", Text: "the launch code is swordfish", Sensitivity: busapi.Secret},
		{Kind: "note", Text: "zebra crossing", Sensitivity: busapi.Public},
	} {
		if _, err := root.Publish(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	const query = "kernel panic in module foo"
	for range 2 {
		items, err := root.Query(ctx, busapi.QueryParams{Text: query})
		if err != nil {
			t.Fatalf("query with the runtime down: %v", err)
		}
		if got := texts(items); !slices.Equal(got, []string{query}) {
			t.Fatalf("runtime down: %q, want the full-text match only", got)
		}
	}
	if n := len(busLog.find(map[string]string{"msg": "bus: embeddings unavailable; relevance queries use the full-text index until they return"})); n != 1 {
		t.Fatalf("the outage was logged %d times, want once", n)
	}

	startRuntime(t, rtSock, nil, nil)
	items, err := root.Query(ctx, busapi.QueryParams{Text: query})
	if err != nil {
		t.Fatal(err)
	}
	got := texts(items)
	if len(got) != 4 || got[0] != query {
		t.Fatalf("by embeddings: %q, want all 4 items with %q first", got, query)
	}
	var embedded int
	if err := b.s.store.db.QueryRow(`SELECT count(*) FROM items WHERE vec_model = 'tiny' AND length(vec) > 0`).Scan(&embedded); err != nil || embedded != 4 {
		t.Fatalf("%d items embedded (%v), want 4", embedded, err)
	}
	if len(busLog.find(map[string]string{"msg": "bus: embeddings available again"})) != 1 {
		t.Fatal("the recovery was not logged")
	}
	// The secret's own text as the query: its owner finds it first...
	items, err = root.Query(ctx, busapi.QueryParams{Text: "the launch code is swordfish", Limit: 1})
	if err != nil || len(items) != 1 || items[0].Sensitivity != busapi.Secret {
		t.Fatalf("owner's query for the secret: %+v, %v", items, err)
	}
	// ...another uid sees the public items only, ranked by embedding
	// (neither shares a word with the query)...
	var seen []busapi.Item
	b.run(t, nobody, "query", &seen, "BUS_QUERY=the launch code is swordfish")
	if got := texts(seen); len(got) != 2 || !slices.Contains(got, "alpha beta gamma") || !slices.Contains(got, "zebra crossing") {
		t.Fatalf("uid %d saw %q, want the two public items", nobody, got)
	}
	// ...and a gateway never sees the secret.
	gw := b.dial(t)
	if _, err := gw.Hello(ctx, busapi.RoleGateway); err != nil {
		t.Fatal(err)
	}
	items, err = gw.Query(ctx, busapi.QueryParams{Text: "the launch code is swordfish"})
	if err != nil || len(items) != 3 || slices.ContainsFunc(items, func(it busapi.Item) bool { return it.Sensitivity == busapi.Secret }) {
		t.Fatalf("gateway saw %q (%v), want the 3 items that are not secret", texts(items), err)
	}
}

// TestCallerIdentityToRuntime: ai.chat relayed by the bus (root) reaches
// the runtime's scheduler as the caller's uid; the same header sent
// directly by that uid to the runtime is ignored.
func TestCallerIdentityToRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a model")
	}
	rtSock := filepath.Join(sharedDir(t), "ai.sock")
	rec := &logRecorder{}
	rt, err := client.New("unix://" + rtSock)
	if err != nil {
		t.Fatal(err)
	}
	b := startBusConfig(t, Config{Chat: RuntimeChat(rt), ModelBackend: RuntimeBackends(rt)})
	startRuntime(t, rtSock, rec, nil)
	var out map[string]string
	b.run(t, nobody, "chat", &out, "BUS_MODEL=tiny")
	if out["error"] != "" {
		t.Fatalf("chat as uid %d: %s", nobody, out["error"])
	}
	caller := fmt.Sprintf("uid:%d", nobody)
	if len(rec.find(map[string]string{"msg": "request", "path": "/api/chat", "client": caller})) != 1 {
		t.Fatalf("the runtime did not see the chat as %s: %v", caller, rec.find(map[string]string{"path": "/api/chat"}))
	}
	b.run(t, nobody, "direct", &out, "BUS_RUNTIME="+rtSock)
	if out["error"] != "<nil>" {
		t.Fatalf("direct request as uid %d: %s", nobody, out["error"])
	}
	if len(rec.find(map[string]string{"msg": "request", "path": "/api/tags", "client": caller})) != 1 {
		t.Fatalf("the direct request was not counted as %s: %v", caller, rec.find(map[string]string{"path": "/api/tags"}))
	}
	if forged := rec.find(map[string]string{"client": "uid:4242"}); len(forged) != 0 {
		t.Fatalf("the forged identity reached the runtime: %v", forged)
	}
}

// recordingHandler keeps the bodies of the requests h serves.
type recordingHandler struct {
	h      http.Handler
	mu     sync.Mutex
	bodies []string
}

func (r *recordingHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, string(b))
	r.mu.Unlock()
	req.Body = io.NopCloser(bytes.NewReader(b))
	r.h.ServeHTTP(w, req)
}

func (r *recordingHandler) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bodies)
}

// TestBackendPolicy: a model served by a remote backend (a second runtime
// on loopback) answers ai.chat for the program a [[backend]] grant names,
// without its secret context, and is refused and audited for another
// uid, whose request never reaches the remote; local models stay open
// to everyone, and embedding with the remote model is refused.
func TestBackendPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a model")
	}
	remoteRT, remoteStore, _ := testruntime.Tiny(t, 512)
	remote := &recordingHandler{h: api.New(api.Config{Runtime: remoteRT, Models: remoteStore, Logger: slog.New(slog.DiscardHandler)}).Handler()}
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &http.Server{Handler: remote}
	go rs.Serve(rl)
	t.Cleanup(func() { rs.Close() })

	rtSock := filepath.Join(t.TempDir(), "ai.sock")
	startRuntime(t, rtSock, nil, &api.BackendsConfig{Backends: []api.Backend{
		{Name: "lab", URL: "http://" + rl.Addr().String() + "/v1", Models: map[string]string{"far": "tiny"}}}})
	rt, err := client.New("unix://" + rtSock)
	if err != nil {
		t.Fatal(err)
	}
	backends := RuntimeBackends(rt)
	b := startBusConfig(t, Config{Chat: RuntimeChat(rt), ModelBackend: backends,
		Policy: &Policy{Backends: []BackendGrant{{Name: "lab", UIDs: []uint32{0}}}}})
	ctx := context.Background()
	root := b.dial(t)
	for _, it := range []busapi.PublishParams{
		{Kind: "note", Text: "hello from the swordfish vault", Sensitivity: busapi.Secret},
		{Kind: "note", Text: "hello from the project notes", Sensitivity: busapi.Private},
	} {
		if _, err := root.Publish(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	res, err := root.Chat(ctx, busapi.ChatParams{Model: "far", MaxTokens: 2, Context: true,
		Messages: []busapi.ChatMessage{{Role: "user", Content: "hello"}}})
	if err != nil || res.Message.Role != "assistant" {
		t.Fatalf("granted chat with the remote model: %+v, %v", res, err)
	}
	sent := remote.seen()
	if len(sent) != 1 || !strings.Contains(sent[0], "project notes") || strings.Contains(sent[0], "swordfish") {
		t.Fatalf("the remote received %q: want one request with the private context and without the secret", sent)
	}

	var out map[string]string
	b.run(t, nobody, "chat", &out, "BUS_MODEL=far")
	if !strings.Contains(out["error"], `served by the remote backend "lab"`) || !strings.Contains(out["error"], "may not use") {
		t.Fatalf("uid %d chatting with the remote model: %q, want a refusal naming the backend", nobody, out)
	}
	if n := len(remote.seen()); n != 1 {
		t.Fatalf("the refused chat reached the remote (%d requests)", n)
	}
	recs, err := root.Audit(ctx, busapi.AuditQuery{Target: "far"})
	if err != nil || len(recs) != 2 || recs[0].Decision != busapi.DecisionAllowed || recs[1].Decision != busapi.DecisionDenied ||
		recs[1].Caller.UID != nobody || !strings.Contains(recs[1].Detail, "lab") {
		t.Fatalf("audit %+v, %v: want the grant allowed and uid %d denied", recs, err, nobody)
	}
	b.run(t, nobody, "chat", &out, "BUS_MODEL=tiny")
	if out["error"] != "" {
		t.Fatalf("uid %d chatting with the local model: %s", nobody, out["error"])
	}

	_, err = RuntimeEmbed(rt, "far", backends)(ctx, []string{"hello from the swordfish vault"})
	if err == nil || !strings.Contains(err.Error(), "remote backend") || errors.Is(err, ErrUnembeddable) {
		t.Fatalf("embedding with the remote model: %v, want a refusal", err)
	}
	if n := len(remote.seen()); n != 1 {
		t.Fatalf("the refused embedding reached the remote (%d requests)", n)
	}
}

// TestEmbeddingRelevanceBert ranks with a real embedding architecture
// (the fixtures' BERT, mean-pooled and normalized as its file says): the
// exact text comes first and every vector has the model's width.
func TestEmbeddingRelevanceBert(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a model")
	}
	model := testmodel.Path(t, "bert-F16.gguf")
	st, err := modelstore.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Import(context.Background(), model, "bert", nil); err != nil {
		t.Fatal(err)
	}
	rt, err := runtime.New(runtime.Config{Source: api.StoreSource{Store: st}, Threads: 2, NumCtx: 512, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	hs := httptest.NewServer(api.New(api.Config{Runtime: rt, Models: st, Logger: slog.New(slog.DiscardHandler)}).Handler())
	t.Cleanup(hs.Close)
	c, err := client.New(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "bus.sock")
	s := serveBus(t, Config{EmbedModel: "bert", Embed: RuntimeEmbed(c, "bert", RuntimeBackends(c))}, sock)
	ctx := context.Background()
	bc, err := busapi.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	all := []string{"The quick brown fox jumps over the lazy dog.", "Machine learning models embed text into vectors.",
		"What is the capital of France? Paris!", "hello world"}
	for _, text := range all {
		if _, err := bc.Publish(ctx, busapi.PublishParams{Kind: "note", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range all {
		items, err := bc.Query(ctx, busapi.QueryParams{Text: q})
		if err != nil || len(items) != len(all) || items[0].Text != q {
			t.Fatalf("query %q: %q, %v: want all items, the exact text first", q, texts(items), err)
		}
	}
	var widths []int
	rows, err := s.store.db.Query(`SELECT length(vec) FROM items`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n int
		rows.Scan(&n)
		widths = append(widths, n)
	}
	if len(widths) != len(all) || slices.ContainsFunc(widths, func(n int) bool { return n != widths[0] || n == 0 }) {
		t.Fatalf("vector bytes %v, want one width for all", widths)
	}
}
