package api

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
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ollama "github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/raym33/ainative/internal/runtime"
	"github.com/raym33/ainative/internal/store"
	"github.com/raym33/ainative/internal/testdata/testmodel"
)

// The tests drive a real daemon (store, runtime, HTTP on loopback and a
// Unix socket) serving a synthesized tiny model with Qwen 2.5's chat
// template, through the official Ollama and OpenAI Go clients. The model's
// weights are random, so its text is gibberish: what is checked is the
// protocol, the streaming, the constraints and the errors.

var (
	fixtureMu   sync.Mutex
	fixtureDir  string
	fixturePath string
)

// tinyChatModel writes a tiny model with a chat template, once per run.
func tinyChatModel(t testing.TB) string {
	t.Helper()
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if fixturePath == "" {
		if fixtureDir == "" {
			dir, err := os.MkdirTemp("", "ainative-api-test")
			if err != nil {
				t.Fatal(err)
			}
			fixtureDir = dir
		}
		fixturePath = testmodel.ChatModel(t, fixtureDir)
	}
	return fixturePath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

type daemon struct {
	url    string // http://127.0.0.1:PORT
	socket string
	rt     *runtime.Runtime
	st     *store.Store
}

func startDaemon(t *testing.T, cfg runtime.Config) *daemon {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Import(context.Background(), tinyChatModel(t), "tiny", nil); err != nil {
		t.Fatal(err)
	}
	cfg.Source = StoreSource{Store: st}
	if cfg.Threads == 0 {
		cfg.Threads = 2
	}
	if cfg.NumCtx == 0 {
		cfg.NumCtx = 2048
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err := runtime.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Runtime: rt, Models: st, AdminOverTCP: true, Logger: cfg.Logger, WriteTimeout: 5 * time.Second})
	url, sock := serve(t, srv, rt, dir)
	return &daemon{url: url, socket: sock, rt: rt, st: st}
}

// serve serves srv on loopback TCP and on dir/ai.sock as the daemon does,
// until the test ends; then it closes rt and the server.
func serve(t *testing.T, srv *Server, rt *runtime.Runtime, dir string) (tcpURL, socket string) {
	t.Helper()
	hs := &http.Server{Handler: srv.Handler(), ConnContext: ConnContext}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "ai.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(tl)
	go hs.Serve(ul)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rt.Close()
		hs.Shutdown(ctx)
	})
	return "http://" + tl.Addr().String(), sock
}

func (d *daemon) ollama(t *testing.T) *ollama.Client {
	u, err := url.Parse(d.url)
	if err != nil {
		t.Fatal(err)
	}
	return ollama.NewClient(u, http.DefaultClient)
}

func (d *daemon) openai() openai.Client {
	return openai.NewClient(option.WithBaseURL(d.url+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
}

func (d *daemon) post(t *testing.T, path, contentType, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, d.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func intp(v int) *int { return &v }

func TestOllamaChatStreaming(t *testing.T) {
	d := startDaemon(t, runtime.Config{})
	c := d.ollama(t)
	var pieces int
	var final ollama.ChatResponse
	var text strings.Builder
	err := c.Chat(context.Background(), &ollama.ChatRequest{
		Model:    "tiny",
		Messages: []ollama.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hello there"}},
		Options:  map[string]any{"num_predict": 12, "temperature": 0, "seed": 1},
	}, func(r ollama.ChatResponse) error {
		if !r.Done {
			pieces++
		}
		text.WriteString(r.Message.Content)
		final = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !final.Done || final.DoneReason == "" || final.Model != "tiny" {
		t.Fatalf("last response %+v", final)
	}
	if final.EvalCount == 0 || final.EvalCount > 12 || final.PromptEvalCount == 0 {
		t.Fatalf("counts: eval %d, prompt %d", final.EvalCount, final.PromptEvalCount)
	}
	if pieces == 0 || text.Len() == 0 {
		t.Fatalf("%d pieces, text %q: nothing streamed", pieces, text.String())
	}
	if final.Message.Role != "assistant" {
		t.Fatalf("role %q", final.Message.Role)
	}
}

func TestOllamaGenerateNotStreamedWithContext(t *testing.T) {
	d := startDaemon(t, runtime.Config{})
	c := d.ollama(t)
	stream := false
	var resps []ollama.GenerateResponse
	err := c.Generate(context.Background(), &ollama.GenerateRequest{
		Model: "tiny", Prompt: "Once upon a time", Stream: &stream,
		Options: map[string]any{"num_predict": 5, "temperature": 0},
	}, func(r ollama.GenerateResponse) error { resps = append(resps, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(resps) != 1 || !resps[0].Done || len(resps[0].Context) == 0 || resps[0].EvalCount == 0 {
		t.Fatalf("not streamed: %d responses, first %+v", len(resps), resps[0])
	}
	// The context continues the conversation: its tokens are reused.
	first := resps[0]
	resps = nil
	err = c.Generate(context.Background(), &ollama.GenerateRequest{
		Model: "tiny", Prompt: " and then", Context: first.Context, Stream: &stream, Raw: true,
		Options: map[string]any{"num_predict": 3, "temperature": 0},
	}, func(r ollama.GenerateResponse) error { resps = append(resps, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(resps[0].Context) <= len(first.Context) {
		t.Fatalf("context did not grow: %d then %d", len(first.Context), len(resps[0].Context))
	}
}

// Structured output: every answer parses and validates, with random
// sampling, whatever the weights, even when num_predict cuts it short.
func TestOllamaFormatSchema(t *testing.T) {
	d := startDaemon(t, runtime.Config{})
	c := d.ollama(t)
	schema := `{"type":"object","properties":{"name":{"type":"string","maxLength":8},"age":{"type":"integer","minimum":0,"maximum":150},"tags":{"type":"array","items":{"enum":["a","b","c"]},"maxItems":3}},"required":["name","age"],"additionalProperties":false}`
	sch := compileSchema(t, schema)
	for seed := range 6 {
		predict := 40
		if seed%2 == 1 {
			predict = 25 // tight: the answer must still close
		}
		stream := false
		var resp ollama.ChatResponse
		err := c.Chat(context.Background(), &ollama.ChatRequest{
			Model: "tiny", Stream: &stream, Format: json.RawMessage(schema),
			Messages: []ollama.Message{{Role: "user", Content: "Describe a person as JSON."}},
			Options:  map[string]any{"num_predict": predict, "temperature": 1.0, "seed": seed},
		}, func(r ollama.ChatResponse) error { resp = r; return nil })
		if err != nil {
			t.Fatal(err)
		}
		validate(t, sch, resp.Message.Content)
		if resp.EvalCount > predict {
			t.Fatalf("seed %d: %d tokens, budget %d", seed, resp.EvalCount, predict)
		}
	}
}

func compileSchema(t *testing.T, schema string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, text string) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		t.Fatalf("output %q does not parse: %v", text, err)
	}
	if err := s.Validate(v); err != nil {
		t.Fatalf("output %q does not validate: %v", text, err)
	}
}

func TestOllamaModels(t *testing.T) {
	d := startDaemon(t, runtime.Config{})
	c := d.ollama(t)
	ctx := context.Background()
	list, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Models) != 1 || !strings.HasPrefix(list.Models[0].Name, "tiny") || list.Models[0].Size == 0 || list.Models[0].Details.Family != "llama" {
		t.Fatalf("list: %+v", list.Models)
	}
	show, err := c.Show(ctx, &ollama.ShowRequest{Model: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(show.Template, "<|im_start|>") || show.ModelInfo["general.architecture"] != "llama" {
		t.Fatalf("show: template %.40q, info %v", show.Template, show.ModelInfo)
	}
	if err := c.Copy(ctx, &ollama.CopyRequest{Source: "tiny", Destination: "tiny2"}); err != nil {
		t.Fatal(err)
	}
	// Load a model, then see it in ps.
	stream := false
	if err := c.Generate(ctx, &ollama.GenerateRequest{Model: "tiny2", Stream: &stream}, func(ollama.GenerateResponse) error { return nil }); err != nil {
		t.Fatal(err)
	}
	ps, err := c.ListRunning(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps.Models) != 1 || !strings.HasPrefix(ps.Models[0].Name, "tiny2") || ps.Models[0].Size == 0 || ps.Models[0].ContextLength != 2048 {
		t.Fatalf("ps: %+v", ps.Models)
	}
	if err := c.Delete(ctx, &ollama.DeleteRequest{Model: "tiny2"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Show(ctx, &ollama.ShowRequest{Model: "tiny2"})
	var se ollama.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusNotFound {
		t.Fatalf("show after delete: %v", err)
	}
	v, err := c.Version(ctx)
	if err != nil || v != Version {
		t.Fatalf("version %q, %v", v, err)
	}
}

func TestOpenAIChat(t *testing.T) {
	d := startDaemon(t, runtime.Config{})
	c := d.openai()
	ctx := context.Background()
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:               "tiny",
		Messages:            []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("Hi")},
		MaxCompletionTokens: openai.Int(6),
		Seed:                openai.Int(3),
		N:                   openai.Int(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 2 || resp.Object != "chat.completion" || resp.Usage.CompletionTokens == 0 || resp.Usage.PromptTokens == 0 {
		t.Fatalf("response %+v", resp)
	}
	for _, ch := range resp.Choices {
		if ch.Message.Role != "assistant" || ch.FinishReason == "" {
			t.Fatalf("choice %+v", ch)
		}
	}

	// Streaming with usage.
	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:               "tiny",
		Messages:            []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Count to three")},
		MaxCompletionTokens: openai.Int(8),
		Temperature:         openai.Float(0), // greedy: never an empty answer by chance
		StreamOptions:       openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if chunks < 3 || acc.Usage.CompletionTokens == 0 || len(acc.Choices) != 1 || acc.Choices[0].FinishReason == "" {
		t.Fatalf("%d chunks, accumulated %+v", chunks, acc.ChatCompletion)
	}
}

func TestOpenAIStructuredAndTools(t *testing.T) {
	d := startDaemon(t, runtime.Config{})
	c := d.openai()
	ctx := context.Background()
	schema := map[string]any{
		"type":                 "object",
		"properties":           map[string]any{"city": map[string]any{"type": "string", "maxLength": 10}, "celsius": map[string]any{"type": "number"}},
		"required":             []string{"city", "celsius"},
		"additionalProperties": false,
	}
	sb, _ := json.Marshal(schema)
	sch := compileSchema(t, string(sb))
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "tiny",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather?")},
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "weather", Schema: schema, Strict: openai.Bool(true)},
		}},
		MaxCompletionTokens: openai.Int(40),
		Temperature:         openai.Float(1),
		Seed:                openai.Int(5),
	})
	if err != nil {
		t.Fatal(err)
	}
	validate(t, sch, resp.Choices[0].Message.Content)

	// A required tool call: produced under the tools' schema, so its
	// arguments always parse and validate.
	params := map[string]any{"type": "object", "properties": map[string]any{"location": map[string]any{"type": "string", "maxLength": 12}}, "required": []string{"location"}}
	pb, _ := json.Marshal(params)
	psch := compileSchema(t, string(pb))
	resp, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "tiny",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the weather in Paris?")},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "get_weather", Description: openai.String("Weather at a place"), Parameters: params,
		})},
		ToolChoice:          openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")},
		MaxCompletionTokens: openai.Int(60),
		Seed:                openai.Int(9),
	})
	if err != nil {
		t.Fatal(err)
	}
	ch := resp.Choices[0]
	if ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 1 {
		t.Fatalf("required tool call: finish %q, calls %+v, content %q", ch.FinishReason, ch.Message.ToolCalls, ch.Message.Content)
	}
	call := ch.Message.ToolCalls[0]
	if call.Function.Name != "get_weather" || call.ID == "" {
		t.Fatalf("call %+v", call)
	}
	validate(t, psch, call.Function.Arguments)
}

func TestOpenAIEmbeddingsNeedAnEmbedder(t *testing.T) {
	d := startDaemon(t, runtime.Config{})
	c := d.openai()
	// The tiny decoder embeds with its hidden states (mean pooling).
	resp, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "tiny",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"hello", "world"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 2 || len(resp.Data[0].Embedding) != 256 {
		t.Fatalf("embeddings: %d vectors", len(resp.Data))
	}
	var norm float64
	for _, x := range resp.Data[0].Embedding {
		norm += x * x
	}
	if norm < 0.999 || norm > 1.001 {
		t.Fatalf("squared norm %v, want 1 (normalized)", norm)
	}
}

func TestOpenAIModelsAndCompletions(t *testing.T) {
	d := startDaemon(t, runtime.Config{})
	c := d.openai()
	ctx := context.Background()
	page, err := c.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || !strings.HasPrefix(page.Data[0].ID, "tiny") {
		t.Fatalf("models %+v", page.Data)
	}
	comp, err := c.Completions.New(ctx, openai.CompletionNewParams{
		Model:       openai.CompletionNewParamsModel("tiny"),
		Prompt:      openai.CompletionNewParamsPromptUnion{OfString: openai.String("The sky is")},
		MaxTokens:   openai.Int(4),
		Temperature: openai.Float(0), // greedy: never an empty answer by chance
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(comp.Choices) != 1 || comp.Usage.CompletionTokens == 0 || comp.Usage.CompletionTokens > 4 {
		t.Fatalf("completion %+v", comp)
	}
}

func TestOpenAIResponses(t *testing.T) {
	d := startDaemon(t, runtime.Config{})
	c := d.openai()
	ctx := context.Background()
	resp, err := c.Responses.New(ctx, responsesParams("Say hi", 6))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != "completed" && resp.Status != "incomplete" || len(resp.Output) == 0 || resp.Usage.OutputTokens == 0 {
		t.Fatalf("response %+v", resp)
	}
	stream := c.Responses.NewStreaming(ctx, responsesParams("Say hi", 6))
	var types []string
	var deltas strings.Builder
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if ev.Type == "response.output_text.delta" {
			deltas.WriteString(ev.Delta)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(types) < 4 || types[0] != "response.created" || types[len(types)-1] != "response.completed" {
		t.Fatalf("events %v", types)
	}
}

func TestBadRequests(t *testing.T) {
	d := startDaemon(t, runtime.Config{NumCtx: 64})
	cases := []struct {
		path, ctype, body string
		status            int
		want              string
	}{
		{"/api/chat", "application/json", `{"model":`, 400, "not valid JSON"},
		{"/api/chat", "application/json", `{"model":"tiny","messages":"hi"}`, 400, "messages"},
		{"/api/chat", "application/json", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`, 404, "not found"},
		{"/api/generate", "application/json", `{"model":"tiny","prompt":"x","options":{"num_predict":-3}}`, 400, "num_predict"},
		{"/api/generate", "application/json", `{"model":"tiny","prompt":"x","options":{"top_p":2}}`, 400, "top_p"},
		{"/api/generate", "application/json", `{"model":"tiny","prompt":"x","options":{"temperature":"hot"}}`, 400, "temperature"},
		{"/api/generate", "application/json", `{"model":"tiny","prompt":"` + strings.Repeat("word ", 200) + `"}`, 400, "context of 64"},
		{"/api/generate", "application/json", `{"model":"tiny","prompt":"x","format":{"type":"object","not":{}}}`, 400, "not"},
		{"/api/generate", "application/json", `{"model":"tiny","prompt":"x"} {}`, 400, "after its JSON"},
		{"/api/generate", "", `{"model":"tiny","prompt":"x","raw":true,"stream":false,"options":{"num_predict":1},"unknown_field":1}`, 200, `"done":true`},
		{"/api/generate", "application/json", `{"prompt":"x"}`, 400, `{"error":"model is required"}`},
		{"/api/embed", "application/json", `{"input":"x"}`, 400, `{"error":"model is required"}`},
		{"/api/embeddings", "application/json", `{"model":7}`, 400, "not allowed here"},
		{"/api/show", "application/json", `{"name":""}`, 400, `{"error":"model is required"}`},
		{"/api/show", "application/json", `{"name":"nope"}`, 404, "nope"},
		{"/api/pull", "application/json", ``, 400, "request body is empty"},
		{"/tokenize", "application/json", `{"content":"x"}`, 400, `{"error":"model is required"}`},
		{"/detokenize", "application/json", `{"model":"nope","tokens":[1]}`, 404, "not found"},
		{"/apply-template", "application/json", `{"model":"tiny","messages":[]} x`, 400, "after its JSON"},
		{"/v1/embeddings", "application/json", `{"input":"x"}`, 400, `"message":"model is required"`},
		{"/v1/chat/completions", "application/json", `[]`, 400, `"type":"invalid_request_error"`},
		{"/v1/completions", "application/json", `{"prompt":"x"}`, 400, `"message":"model is required"`},
		{"/v1/responses", "application/json", `{"model":"nope","input":"x"}`, 404, `"type":"not_found_error"`},
		{"/v1/chat/completions", "application/json", `{"model":"tiny","messages":[]}`, 400, "at least one message"},
		{"/api/generate", "application/json", `{"model":"tiny","prompt":"x","options":{"priority":"urgent"}}`, 400, "priority"},
		{"/v1/chat/completions", "application/json", `{"model":"tiny","messages":[{"role":"user","content":"x"}],"service_tier":"gold"}`, 400, "service_tier"},
		{"/api/generate", "application/json", `{"model":"tiny","prompt":"x","raw":true,"stream":false,"options":{"num_predict":1,"priority":"background"}}`, 200, `"done":true`},
		{"/v1/chat/completions", "application/json", `{"model":"tiny","messages":[{"role":"wizard","content":"x"}]}`, 400, "role"},
		{"/v1/chat/completions", "application/json", `{"model":"tiny","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","patternProperties":{}}}}}`, 400, "patternProperties"},
	}
	for _, tc := range cases {
		status, _, body := d.post(t, tc.path, tc.ctype, tc.body)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s %.60s: %d %q; want %d containing %q", tc.path, tc.body, status, body, tc.status, tc.want)
		}
	}
}

func TestHostAndOriginChecks(t *testing.T) {
	d := startDaemon(t, runtime.Config{})
	do := func(host, origin string) int {
		req, _ := http.NewRequest(http.MethodGet, d.url+"/api/version", nil)
		if host != "" {
			req.Host = host
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := do("evil.example:11434", ""); s != http.StatusForbidden {
		t.Errorf("rebinding Host: %d", s)
	}
	if s := do("localhost:11434", ""); s != http.StatusOK {
		t.Errorf("localhost Host: %d", s)
	}
	if s := do("", "https://evil.example"); s != http.StatusForbidden {
		t.Errorf("foreign origin: %d", s)
	}
	if s := do("", "http://localhost:3000"); s != http.StatusOK {
		t.Errorf("loopback origin: %d", s)
	}
}

func TestQueueFullIs503(t *testing.T) {
	d := startDaemon(t, runtime.Config{NumParallel: 1, MaxQueue: 1})
	// Twenty requests at once for one slot and one place in the queue:
	// the ones that find both taken are refused, the others served.
	body := `{"model":"tiny","prompt":"go on","raw":true,"stream":false,"options":{"num_predict":40}}`
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, full int
	for range 20 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, d.url+"/api/generate", strings.NewReader(body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case resp.StatusCode == 200 && strings.Contains(string(b), `"done":true`):
				ok++
			case resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "" && strings.Contains(string(b), "queue is full"):
				full++
			default:
				t.Errorf("unexpected answer %d %q", resp.StatusCode, b)
			}
		})
	}
	wg.Wait()
	if ok < 2 || full == 0 || ok+full != 20 {
		t.Fatalf("%d served, %d refused of 20", ok, full)
	}
}

// A client that goes away frees its sequence: the next request runs.
func TestDisconnectFreesSlot(t *testing.T) {
	d := startDaemon(t, runtime.Config{NumParallel: 1})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, d.url+"/api/generate",
		strings.NewReader(`{"model":"tiny","prompt":"go on","options":{"num_predict":-1}}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	status, _, body := d.post(t, "/api/generate", "application/json", `{"model":"tiny","prompt":"x","stream":false,"options":{"num_predict":2}}`)
	if status != 200 || !strings.Contains(body, `"done":true`) {
		t.Fatalf("after a disconnect: %d %s", status, body)
	}
}

func TestConcurrentChats(t *testing.T) {
	d := startDaemon(t, runtime.Config{NumParallel: 8})
	c := d.ollama(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			n := 0
			err := c.Chat(context.Background(), &ollama.ChatRequest{
				Model:    "tiny",
				Messages: []ollama.Message{{Role: "user", Content: fmt.Sprintf("message %d", i)}},
				Options:  map[string]any{"num_predict": 10, "seed": i},
			}, func(r ollama.ChatResponse) error {
				if r.Done {
					n = r.EvalCount
				}
				return nil
			})
			if err == nil && n == 0 {
				err = fmt.Errorf("chat %d generated nothing", i)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestLlamaServerExtras(t *testing.T) {
	d := startDaemon(t, runtime.Config{})
	status, _, body := d.post(t, "/tokenize", "application/json", `{"model":"tiny","content":"hello world"}`)
	var tok struct{ Tokens []int32 }
	if status != 200 || json.Unmarshal([]byte(body), &tok) != nil || len(tok.Tokens) == 0 {
		t.Fatalf("tokenize: %d %s", status, body)
	}
	tb, _ := json.Marshal(map[string]any{"model": "tiny", "tokens": tok.Tokens})
	status, _, body = d.post(t, "/detokenize", "application/json", string(tb))
	if status != 200 || !strings.Contains(body, "hello world") {
		t.Fatalf("detokenize: %d %s", status, body)
	}
	status, _, body = d.post(t, "/apply-template", "application/json",
		`{"model":"tiny","messages":[{"role":"user","content":"Hi"}]}`)
	var at struct{ Prompt string }
	if status != 200 || json.Unmarshal([]byte(body), &at) != nil ||
		!strings.HasSuffix(at.Prompt, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n") {
		t.Fatalf("apply-template: %d %s", status, body)
	}
}

func TestMetricsAndHealth(t *testing.T) {
	d := startDaemon(t, runtime.Config{})
	d.post(t, "/api/generate", "application/json", `{"model":"tiny","prompt":"x","stream":false,"options":{"num_predict":2}}`)
	resp, err := http.Get(d.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"ainative_requests_total 1", "ainative_generated_tokens_total 2", "ainative_time_to_first_token_seconds_count 1", `ainative_model_memory_bytes{model="tiny:latest"}`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("metrics lack %q:\n%s", want, b)
		}
	}
	resp, err = http.Get(d.url + "/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("health: %v %v", resp, err)
	}
	resp.Body.Close()
}

// responsesParams asks for greedy decoding: with the default
// temperature the tiny model's first token is now and then its end of
// generation, and a test asking for output text would flake.
func responsesParams(input string, maxTokens int64) responses.ResponseNewParams {
	return responses.ResponseNewParams{
		Model:           "tiny",
		Input:           responses.ResponseNewParamsInputUnion{OfString: openai.String(input)},
		MaxOutputTokens: openai.Int(maxTokens),
		Temperature:     openai.Float(0),
	}
}
