package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	ollama "github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/raym33/ainative/internal/runtime"
)

// recorded is one request a backend received.
type recorded struct {
	path string
	body map[string]any
}

// recorder sits between the front daemon and the real remote daemon and
// keeps what the front sent, so that tests see the translation.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

func (rc *recorder) last(t *testing.T) recorded {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.reqs) == 0 {
		t.Fatal("the backend received no request")
	}
	return rc.reqs[len(rc.reqs)-1]
}

// startRemotePair starts a remote daemon serving "tiny", a recording
// proxy before it, and a front daemon serving "far-tiny" from it through
// backend b (its name, URL and models are filled in).
func startRemotePair(t *testing.T, b Backend) (front string, remote *daemon, rec *recorder) {
	t.Helper()
	remote = startDaemon(t, runtime.Config{})
	u, err := url.Parse(remote.url)
	if err != nil {
		t.Fatal(err)
	}
	rec = &recorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.FlushInterval = -1
	hop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(body, &m)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{r.URL.Path, m})
		rec.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(hop.Close)
	b.Name, b.URL, b.Models, b.Public = "lab", hop.URL+"/v1", map[string]string{"far-tiny": "tiny"}, true
	front, _ = startFrontWith(t, b, io.Discard)
	return front, remote, rec
}

func ollamaClient(t *testing.T, base string) *ollama.Client {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return ollama.NewClient(u, http.DefaultClient)
}

// generate runs an Ollama generate and returns its text and last answer.
func generate(t *testing.T, c *ollama.Client, req *ollama.GenerateRequest) (string, ollama.GenerateResponse, int) {
	t.Helper()
	var text strings.Builder
	var last ollama.GenerateResponse
	n := 0
	err := c.Generate(context.Background(), req, func(r ollama.GenerateResponse) error {
		text.WriteString(r.Response)
		last = r
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return text.String(), last, n
}

// chatText runs an Ollama chat (not streamed) and returns its text.
func chatText(t *testing.T, c *ollama.Client, req *ollama.ChatRequest) string {
	t.Helper()
	var text string
	err := c.Chat(context.Background(), req, func(r ollama.ChatResponse) error {
		text += r.Message.Content
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// Ollama's generate for a remote model: the chat form becomes the
// backend's chat completions with a system and a user message, a raw
// prompt its completions; the options are mapped; the answer, streamed or
// not, is what the backend's model says for the same greedy request.
func TestRemoteGenerate(t *testing.T) {
	front, remote, rec := startRemotePair(t, Backend{})
	fc, rc := ollamaClient(t, front), ollamaClient(t, remote.url)
	no := false

	// The chat form, streamed.
	text, last, n := generate(t, fc, &ollama.GenerateRequest{Model: "far-tiny", System: "Be brief.", Prompt: "Say hello",
		Options: map[string]any{"num_predict": 6, "temperature": 0, "top_p": 0.5, "seed": 7, "stop": []string{"zzz"}}})
	got := rec.last(t)
	if got.path != "/v1/chat/completions" {
		t.Fatalf("chat-form generate went to %s", got.path)
	}
	msgs, _ := json.Marshal(got.body["messages"])
	if string(msgs) != `[{"content":"Be brief.","role":"system"},{"content":"Say hello","role":"user"}]` {
		t.Errorf("messages sent: %s", msgs)
	}
	for k, want := range map[string]any{"model": "tiny", "max_tokens": 6.0, "temperature": 0.0, "top_p": 0.5, "seed": 7.0, "stream": true} {
		if got.body[k] != want {
			t.Errorf("%s sent: %v, want %v", k, got.body[k], want)
		}
	}
	if stop, _ := json.Marshal(got.body["stop"]); string(stop) != `["zzz"]` {
		t.Errorf("stop sent: %s", stop)
	}
	if !last.Done || last.EvalCount == 0 || last.EvalCount > 6 || last.PromptEvalCount == 0 || n < 2 || last.Model != "far-tiny" {
		t.Fatalf("streamed generate: %d lines, last %+v", n, last)
	}
	if last.DoneReason != "stop" && last.DoneReason != "length" {
		t.Errorf("done_reason %q", last.DoneReason)
	}
	// The backend's model, asked the same chat directly (greedy, and no
	// repeat penalty, which OpenAI's API has not), says the same.
	want := chatText(t, rc, &ollama.ChatRequest{Model: "tiny", Stream: &no, Messages: []ollama.Message{
		{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Say hello"}},
		Options: map[string]any{"num_predict": 6, "temperature": 0, "repeat_penalty": 1}})
	if text != want || text == "" {
		t.Errorf("remote generate said %q, the backend's model %q", text, want)
	}

	// Raw, not streamed.
	text2, last2, n2 := generate(t, fc, &ollama.GenerateRequest{Model: "far-tiny", Prompt: "Once upon a time", Raw: true, Stream: &no,
		Options: map[string]any{"num_predict": 5, "temperature": 0}})
	got = rec.last(t)
	if got.path != "/v1/completions" || got.body["prompt"] != "Once upon a time" || got.body["messages"] != nil || got.body["stream"] != false {
		t.Fatalf("raw generate sent %s %v", got.path, got.body)
	}
	wantRaw, _, _ := generate(t, rc, &ollama.GenerateRequest{Model: "tiny", Prompt: "Once upon a time", Raw: true, Stream: &no,
		Options: map[string]any{"num_predict": 5, "temperature": 0, "repeat_penalty": 1}})
	if n2 != 1 || !last2.Done || last2.EvalCount == 0 || text2 != wantRaw || text2 == "" {
		t.Errorf("raw generate: %d answers, %q (backend's model: %q), last %+v", n2, text2, wantRaw, last2)
	}

	// Loading is answered without the backend.
	before := len(rec.reqs)
	_, load, _ := generate(t, fc, &ollama.GenerateRequest{Model: "far-tiny"})
	if !load.Done || load.DoneReason != "load" || len(rec.reqs) != before {
		t.Errorf("empty prompt: %+v, %d requests to the backend", load, len(rec.reqs)-before)
	}
}

// A JSON format reaches the backend as response_format, and what cannot
// be forwarded is a 400 naming it.
func TestRemoteGenerateRefusals(t *testing.T) {
	front, _, rec := startRemotePair(t, Backend{})
	c := ollamaClient(t, front)
	no := false
	generate(t, c, &ollama.GenerateRequest{Model: "far-tiny", Prompt: "Give JSON", Format: json.RawMessage(`"json"`), Stream: &no,
		Options: map[string]any{"num_predict": 8}})
	if rf, _ := json.Marshal(rec.last(t).body["response_format"]); string(rf) != `{"type":"json_object"}` {
		t.Errorf("response_format sent: %s", rf)
	}
	for body, want := range map[string]string{
		`{"model":"far-tiny","prompt":"x","context":[1,2,3]}`:               "context",
		`{"model":"far-tiny","prompt":"x","template":"{{ .Prompt }}"}`:      "template",
		`{"model":"far-tiny","prompt":"x","raw":true,"format":"json"}`:      "format",
		`{"model":"far-tiny","prompt":"x","options":{"num_predict":-3}}`:    "num_predict",
		`{"model":"far-tiny","prompt":"x","images":["aGk="]}`:               "images",
		`{"model":"far-tiny","prompt":"x","think":"sometimes"}`:             "think",
		`{"model":"far-tiny","prompt":"x","options":{"temperature":"hot"}}`: "temperature",
	} {
		resp, err := http.Post(front+"/api/generate", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %s, want 400 naming %q", body, resp.StatusCode, b, want)
		}
	}
}

// OpenAI's Responses API for a remote model, translated to the backend's
// chat completions: the same answer, whole or as events, as the backend's
// own /v1/responses gives for the same greedy request; a forced function
// tool comes back as a function_call item.
func TestRemoteResponsesTranslated(t *testing.T) {
	front, remote, rec := startRemotePair(t, Backend{})
	ctx := context.Background()
	fc := openaiClient(front)
	params := func(model string) responses.ResponseNewParams {
		return responses.ResponseNewParams{
			Model:           model,
			Instructions:    openai.String("Be brief."),
			Input:           responses.ResponseNewParamsInputUnion{OfString: openai.String("Say hi")},
			MaxOutputTokens: openai.Int(6),
			Temperature:     openai.Float(0),
		}
	}
	resp, err := fc.Responses.New(ctx, params("far-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	got := rec.last(t)
	msgs, _ := json.Marshal(got.body["messages"])
	if got.path != "/v1/chat/completions" || string(msgs) != `[{"content":"Be brief.","role":"system"},{"content":"Say hi","role":"user"}]` ||
		got.body["max_tokens"] != 6.0 || got.body["model"] != "tiny" {
		t.Fatalf("sent %s %v", got.path, got.body)
	}
	rc := openaiClient(remote.url)
	want, err := rc.Responses.New(ctx, params("tiny"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.OutputText() != want.OutputText() || resp.OutputText() == "" || resp.Model != "far-tiny" ||
		resp.Usage.OutputTokens != want.Usage.OutputTokens || resp.Usage.InputTokens != want.Usage.InputTokens || resp.Status != want.Status {
		t.Errorf("translated: %q %s %+v\nbackend's own: %q %s %+v", resp.OutputText(), resp.Status, resp.Usage, want.OutputText(), want.Status, want.Usage)
	}

	stream := fc.Responses.NewStreaming(ctx, params("far-tiny"))
	var types []string
	var deltas strings.Builder
	var final responses.Response
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.output_text.delta":
			deltas.WriteString(ev.Delta)
		case "response.completed":
			final = ev.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(types) < 6 || types[0] != "response.created" || types[len(types)-1] != "response.completed" {
		t.Fatalf("events %v", types)
	}
	if deltas.String() != want.OutputText() || final.OutputText() != want.OutputText() || final.Usage.OutputTokens != want.Usage.OutputTokens {
		t.Errorf("streamed %q (final %q, %d tokens), want %q", deltas.String(), final.OutputText(), final.Usage.OutputTokens, want.OutputText())
	}
	if rec.last(t).body["stream"] != true {
		t.Errorf("the streamed request was sent with stream %v", rec.last(t).body["stream"])
	}

	// A forced function tool.
	tp := params("far-tiny")
	tp.Tools = []responses.ToolUnionParam{{OfFunction: &responses.FunctionToolParam{Name: "get_weather",
		Parameters: map[string]any{"type": "object", "properties": map[string]any{"ok": map[string]any{"type": "boolean"}},
			"required": []string{"ok"}, "additionalProperties": false}}}}
	tp.ToolChoice = responses.ResponseNewParamsToolChoiceUnion{OfFunctionTool: &responses.ToolChoiceFunctionParam{Name: "get_weather"}}
	tp.MaxOutputTokens = openai.Int(120)
	resp, err = fc.Responses.New(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	got = rec.last(t)
	tc, _ := json.Marshal(got.body["tool_choice"])
	tools, _ := json.Marshal(got.body["tools"])
	if string(tc) != `{"function":{"name":"get_weather"},"type":"function"}` || !strings.Contains(string(tools), `"function":{"name":"get_weather"`) {
		t.Errorf("tool_choice sent %s, tools %s", tc, tools)
	}
	var call *responses.ResponseFunctionToolCall
	for _, it := range resp.Output {
		if it.Type == "function_call" {
			fcall := it.AsFunctionCall()
			call = &fcall
		}
	}
	if call == nil || call.Name != "get_weather" || call.CallID == "" || (call.Arguments != `{"ok":true}` && call.Arguments != `{"ok":false}`) {
		t.Fatalf("no function call in %+v", resp.Output)
	}
}

// A backend that declares "responses" gets /v1/responses as it is.
func TestRemoteResponsesPassThrough(t *testing.T) {
	front, _, rec := startRemotePair(t, Backend{Responses: true})
	fc := openaiClient(front)
	resp, err := fc.Responses.New(context.Background(), responses.ResponseNewParams{
		Model: "far-tiny", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}, MaxOutputTokens: openai.Int(3),
		Instructions: openai.String("Be brief."),
		Temperature:  openai.Float(0), // greedy: never an empty answer by chance
	})
	if err != nil {
		t.Fatal(err)
	}
	got := rec.last(t)
	if got.path != "/v1/responses" || got.body["model"] != "tiny" || got.body["input"] != "hi" || got.body["instructions"] != "Be brief." {
		t.Fatalf("sent %s %v", got.path, got.body)
	}
	if len(resp.Output) == 0 || resp.Usage.OutputTokens == 0 {
		t.Fatalf("response %+v", resp)
	}
}

// What the chat API cannot carry is refused before the backend is asked.
func TestRemoteResponsesRefusals(t *testing.T) {
	front, _, rec := startRemotePair(t, Backend{})
	for body, want := range map[string]string{
		`{"model":"far-tiny","input":"x","previous_response_id":"resp_1"}`:          "previous_response_id",
		`{"model":"far-tiny","input":"x","tools":[{"type":"web_search"}]}`:          "function only",
		`{"model":"far-tiny","input":"x","tool_choice":"required"}`:                 "needs tools",
		`{"model":"far-tiny","input":"x","text":{"format":{"type":"xml"}}}`:         "text.format.type",
		`{"model":"far-tiny","input":"x","max_output_tokens":0}`:                    "max_output_tokens",
		`{"model":"far-tiny","input":[{"type":"image_generation_call"}]}`:           "not supported",
		`{"model":"far-tiny","input":"x","tool_choice":{"type":"file_search"}}`:     "tool_choice",
		`{"model":"far-tiny","input":"x","text":{"format":{"type":"json_schema"}}}`: "schema is required",
	} {
		resp, err := http.Post(front+"/v1/responses", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %s, want 400 naming %q", body, resp.StatusCode, b, want)
		}
	}
	if len(rec.reqs) != 0 {
		t.Errorf("%d refused requests reached the backend", len(rec.reqs))
	}
}

func openaiClient(base string) openai.Client {
	return openai.NewClient(optionsFor(base)...)
}

// FuzzRelayBackend feeds arbitrary backend answers, whole and as event
// streams, to the reader of backend answers: a backend is another machine,
// so none may panic, and the tool calls it returns are always valid JSON
// arguments once converted for Ollama.
func FuzzRelayBackend(f *testing.F) {
	for _, seed := range []string{
		`{"choices":[{"message":{"role":"assistant","content":"hi","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}`,
		`{"choices":[{"text":"raw","finish_reason":"length"}]}`,
		"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":3,\"function\":{\"arguments\":\"x\"}}]}}]}\n\ndata: [DONE]\n",
		"data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":-1,\"id\":\"c\",\"function\":{\"name\":\"f\"}}]},\"finish_reason\":\"stop\"}],\"usage\":null}\n",
		`{"choices":[]}`, `[]`, `null`, ": comment\n\ndata:\n",
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, stream bool) {
		pieces := 0
		a, err := relayBackend(bytes.NewReader(body), stream, func(text, thinking string) error {
			pieces++
			return nil
		})
		if err != nil {
			return
		}
		if !stream && pieces != 0 {
			t.Fatalf("a whole answer was delivered in %d pieces", pieces)
		}
		if a.doneReason != "stop" && a.doneReason != "length" {
			t.Fatalf("done reason %q", a.doneReason)
		}
		for _, c := range a.toolCalls() {
			if !json.Valid(c.Function.Arguments) {
				t.Fatalf("tool call arguments %q are not JSON", c.Function.Arguments)
			}
		}
	})
}

// A backend's own error comes back with its status, naming the backend,
// in each API's error shape.
func TestRemoteTranslatedErrors(t *testing.T) {
	remote := startDaemon(t, runtime.Config{})
	front, _ := startFrontWith(t, Backend{Name: "lab", URL: remote.url + "/v1", Models: map[string]string{"far-tiny": "missing"}, Public: true}, io.Discard)
	for _, c := range []struct{ path, body, want string }{
		{"/api/generate", `{"model":"far-tiny","prompt":"hi"}`, `{"error":"remote backend \"lab\": `},
		{"/api/generate", `{"model":"far-tiny","prompt":"hi","raw":true,"stream":false}`, `{"error":"remote backend \"lab\": `},
		{"/v1/responses", `{"model":"far-tiny","input":"hi"}`, `"message":"remote backend \"lab\": `},
	} {
		resp, err := http.Post(front+c.path, "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), c.want) || !strings.Contains(string(b), "missing") {
			t.Errorf("%s %s: %d %s", c.path, c.body, resp.StatusCode, b)
		}
	}
	// An unreachable backend is a 502.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	front2, _ := startFrontWith(t, Backend{Name: "gone", URL: dead.URL + "/v1", Models: map[string]string{"far-tiny": "tiny"}, Public: true}, io.Discard)
	for _, path := range []string{"/api/generate", "/v1/responses"} {
		resp, err := http.Post(front2+path, "application/json", strings.NewReader(`{"model":"far-tiny","prompt":"hi","input":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(b), `remote backend \"gone\"`) {
			t.Errorf("%s to a dead backend: %d %s", path, resp.StatusCode, b)
		}
	}
}
