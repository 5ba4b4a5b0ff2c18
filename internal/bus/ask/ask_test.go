package ask

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raym33/ainative/client"
	busapi "github.com/raym33/ainative/client/bus"
	"github.com/raym33/ainative/internal/api"
	"github.com/raym33/ainative/internal/bus"
	"github.com/raym33/ainative/internal/bus/bustest"
	"github.com/raym33/ainative/internal/runtime"
	"github.com/raym33/ainative/internal/store"
	"github.com/raym33/ainative/internal/testdata/testmodel"
)

// startRuntime serves a synthesized tiny model with Qwen 2.5's chat
// template (random weights: the text is nonsense, the tool calls are
// grammar-constrained and so always well-formed).
func startRuntime(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	model := testmodel.ChatModel(t, dir)
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Import(context.Background(), model, "tiny", nil); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err := runtime.New(runtime.Config{Source: api.StoreSource{Store: st}, Threads: 2, NumCtx: 2048, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: api.New(api.Config{Runtime: rt, Models: st, Logger: logger}).Handler()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rt.Close()
		hs.Shutdown(ctx)
	})
	return "http://" + l.Addr().String()
}

func startBus(t *testing.T, chat *client.Client) string {
	t.Helper()
	cfg := bus.Config{Dir: t.TempDir()}
	if chat != nil {
		cfg.Chat = bus.RuntimeChat(chat)
	}
	sock := filepath.Join(t.TempDir(), "bus.sock")
	bustest.Serve(t, cfg, sock)
	return sock
}

// TestAskScriptedTool runs the loop on the synthesized model with one
// scripted tool that needs consent: every step is a valid call, each
// scripted call was consented to, and the loop ends by a final answer or
// at the step limit.
func TestAskScriptedTool(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a model")
	}
	rtURL := startRuntime(t)
	sock := startBus(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	provider, err := busapi.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer provider.Close()
	var mu sync.Mutex
	var calls []string
	err = provider.Register(ctx, busapi.ToolSpec{Name: "script_step", Effect: busapi.EffectWrite,
		Description: "Advance the script by one step.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer","minimum":0,"maximum":9}},"required":["n"],"additionalProperties":false}`)},
		func(_ context.Context, call busapi.ToolCallParams) (busapi.ToolResult, error) {
			var a struct {
				N *int `json:"n"`
			}
			dec := json.NewDecoder(bytes.NewReader(call.Arguments))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&a); err != nil || a.N == nil || *a.N < 0 || *a.N > 9 {
				t.Errorf("scripted tool got invalid arguments %s", call.Arguments)
			}
			mu.Lock()
			calls = append(calls, string(call.Arguments))
			mu.Unlock()
			return busapi.ToolResult{Text: "step done; call script_step again or give the final answer"}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	user, err := busapi.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer user.Close()
	consents := 0
	if err := user.ServeConsent(ctx, func(_ context.Context, r busapi.ConsentRequest) (bool, error) {
		mu.Lock()
		consents++
		mu.Unlock()
		return r.Tool == "script_step", nil
	}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	seed := int64(7)
	answer, steps, err := Run(ctx, Config{Bus: user, Runtime: rtURL, Model: "tiny", MaxSteps: 4, Tools: []string{"script_step"},
		Out: &out, Seed: &seed, MaxTokens: 64}, "run the script")
	t.Logf("transcript:\n%s", out.String())
	if err != nil && !errors.Is(err, ErrStepLimit) {
		t.Fatal(err)
	}
	if len(steps) == 0 || len(steps) > 4 {
		t.Fatalf("%d steps, want 1..4", len(steps))
	}
	scripted := 0
	for _, st := range steps {
		if st.Tool != "script_step" && st.Tool != FinalAnswer {
			t.Fatalf("step %d called %q, which was not offered", st.N, st.Tool)
		}
		if !strings.Contains(out.String(), "step "+string(rune('0'+st.N))+": "+st.Tool) {
			t.Fatalf("step %d not printed", st.N)
		}
		if st.Tool == "script_step" {
			if st.Err != nil {
				t.Fatalf("step %d: %v", st.N, st.Err)
			}
			scripted++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if scripted != len(calls) || consents != len(calls) {
		t.Fatalf("%d scripted steps, %d calls served, %d consents", scripted, len(calls), consents)
	}
	if err == nil && steps[len(steps)-1].Tool != FinalAnswer {
		t.Fatalf("answer %q without final_answer", answer)
	}
	if errors.Is(err, ErrStepLimit) && len(steps) != 4 {
		t.Fatalf("step limit after %d steps", len(steps))
	}
}

// TestBusChat: ai.chat on the bus reaches the runtime for the caller,
// with context attached, and is audited.
func TestBusChat(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a model")
	}
	rtURL := startRuntime(t)
	rt, err := client.New(rtURL)
	if err != nil {
		t.Fatal(err)
	}
	sock := startBus(t, rt)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := busapi.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Publish(ctx, busapi.PublishParams{Kind: "cwd", Text: "/home/me/project"}); err != nil {
		t.Fatal(err)
	}
	// Greedy: a sampled answer of the tiny model may end at once, empty.
	res, err := c.Chat(ctx, busapi.ChatParams{Model: "tiny", Context: true, MaxTokens: 16, Temperature: new(0.0), Messages: []busapi.ChatMessage{{Role: "user", Content: "where am I? project"}}})
	if err != nil || res.Message.Role != "assistant" || res.Message.Content == "" {
		t.Fatalf("chat: %+v, %v", res, err)
	}
	again, err := c.Chat(ctx, busapi.ChatParams{Model: "tiny", Context: true, MaxTokens: 16, Temperature: new(0.0), Messages: []busapi.ChatMessage{{Role: "user", Content: "where am I? project"}}})
	if err != nil || again.Message.Content != res.Message.Content {
		t.Fatalf("greedy chat not repeated: %q then %q, %v", res.Message.Content, again.Message.Content, err)
	}
	if _, err := c.Chat(ctx, busapi.ChatParams{Model: "nosuch", Messages: []busapi.ChatMessage{{Role: "user", Content: "x"}}}); err == nil {
		t.Fatal("unknown model answered")
	}
	recs, err := c.Audit(ctx, busapi.AuditQuery{Target: "tiny"})
	if err != nil || len(recs) != 2 || recs[0].Action != "ai.chat" {
		t.Fatalf("audit %+v %v", recs, err)
	}
}
