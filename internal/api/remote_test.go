package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ollama "github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/raym33/ainative/internal/runtime"
	"github.com/raym33/ainative/internal/store"
)

// startFront starts a daemon with no model of its own that serves
// "far-tiny" from the backend at remoteURL; its log goes to logs.
func startFront(t *testing.T, remoteURL string, public bool, logs io.Writer) (tcpURL, socket string) {
	t.Helper()
	return startFrontWith(t, Backend{Name: "lab", URL: remoteURL + "/v1", Models: map[string]string{"far-tiny": "tiny"}, Public: public}, logs)
}

// startFrontWith starts a daemon with no model of its own whose one
// remote backend is b.
func startFrontWith(t *testing.T, b Backend, logs io.Writer) (tcpURL, socket string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(logs, nil))
	rt, err := runtime.New(runtime.Config{Source: StoreSource{Store: st}, Threads: 1, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "backends.json")
	cfg, _ := json.Marshal(BackendsConfig{Backends: []Backend{b}})
	os.WriteFile(cfgPath, cfg, 0o644)
	backends, err := LoadBackends(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Runtime: rt, Models: st, Backends: backends, Logger: log})
	return serve(t, srv, rt, dir)
}

type syncBuf struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

// A model named in the backends file is served by the remote daemon
// through both APIs; the request is logged with its backend.
func TestRemoteBackend(t *testing.T) {
	remote := startDaemon(t, runtime.Config{})
	logs := &syncBuf{mu: make(chan struct{}, 1)}
	front, _ := startFront(t, remote.url, true, logs)
	ctx := context.Background()

	oc := openai.NewClient(optionsFor(front)...)
	resp, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "far-tiny", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}, MaxCompletionTokens: openai.Int(4),
		Temperature: openai.Float(0), // greedy: never an empty answer by chance
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 || resp.Usage.CompletionTokens == 0 {
		t.Fatalf("remote chat completion: %+v", resp)
	}
	stream := oc.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model: "far-tiny", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}, MaxCompletionTokens: openai.Int(4),
		Temperature: openai.Float(0), // greedy: never an empty answer by chance
	})
	n := 0
	for stream.Next() {
		n++
	}
	if err := stream.Err(); err != nil || n == 0 {
		t.Fatalf("remote stream: %d chunks, %v", n, err)
	}

	u, _ := urlParse(front)
	c := ollama.NewClient(u, http.DefaultClient)
	var text strings.Builder
	var last ollama.ChatResponse
	err = c.Chat(ctx, &ollama.ChatRequest{Model: "far-tiny", Messages: []ollama.Message{{Role: "user", Content: "hello"}},
		Options: map[string]any{"num_predict": 5, "temperature": 0}}, func(r ollama.ChatResponse) error {
		text.WriteString(r.Message.Content)
		last = r
		return nil
	})
	if err != nil || !last.Done || last.EvalCount == 0 {
		t.Fatalf("ollama chat through the backend: %v, last %+v", err, last)
	}
	if got := strings.Count(logs.String(), "backend=lab"); got != 3 {
		t.Fatalf("%d requests logged with their backend, want 3:\n%s", got, logs.String())
	}
	// The remote daemon served them.
	mresp, err := http.Get(remote.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !bytes.Contains(mb, []byte("ainative_requests_total 3")) {
		t.Fatalf("remote metrics:\n%s", mb)
	}
}

// A backend not marked public is refused to anonymous TCP callers and
// served on the Unix socket, where the kernel identifies the caller.
func TestRemoteBackendNotPublic(t *testing.T) {
	remote := startDaemon(t, runtime.Config{})
	front, sock := startFront(t, remote.url, false, io.Discard)
	body := `{"model":"far-tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":2}`
	resp, err := http.Post(front+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "Unix socket") {
		t.Fatalf("TCP caller: %d %s", resp.StatusCode, b)
	}
	for path, body := range map[string]string{
		"/api/generate": `{"model":"far-tiny","prompt":"hi"}`,
		"/v1/responses": `{"model":"far-tiny","input":"hi"}`,
	} {
		resp, err := http.Post(front+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "Unix socket") {
			t.Errorf("TCP caller of %s: %d %s", path, resp.StatusCode, b)
		}
	}
	uc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err = uc.Post("http://localhost/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"chat.completion"`) {
		t.Fatalf("socket caller: %d %s", resp.StatusCode, b)
	}
}

func TestLoadBackendsErrors(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{
		`{"backends":[{"name":"a","url":"ftp://x","models":{"m":"n"}}]}`:                                                         "not an http(s) URL",
		`{"backends":[{"name":"a","url":"http://x/v1","models":{}}]}`:                                                            "models is empty",
		`{"backends":[{"name":"a","url":"http://x/v1","models":{"m":"n"}},{"name":"b","url":"http://y/v1","models":{"m":"o"}}]}`: "two backends",
		`{"backends":[{"name":"a","url":"http://x/v1","models":{"m":"n"},"apikey":"secret"}]}`:                                   "unknown field",
		`{"backends":[]} {}`: "after the JSON object",
	} {
		p := filepath.Join(dir, "b.json")
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := LoadBackends(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

func optionsFor(base string) []option.RequestOption {
	return []option.RequestOption{option.WithBaseURL(base + "/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0)}
}

func urlParse(s string) (*url.URL, error) { return url.Parse(s) }
