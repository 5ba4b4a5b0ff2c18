package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/raym33/ainative/internal/runtime"
)

// OpenAI's API, as its official clients send it:
// https://platform.openai.com/docs/api-reference.

type openaiMessage struct {
	Role       string           `json:"role"`
	Content    json.RawMessage  `json:"content"` // a string, an array of parts, or null
	Name       string           `json:"name,omitempty"`
	ToolCalls  []openaiToolCall `json:"tool_calls,omitempty"`
	ToolCallID string           `json:"tool_call_id,omitempty"`
	Reasoning  string           `json:"reasoning_content,omitempty"`
}

type openaiToolCall struct {
	Index    *int               `json:"index,omitempty"`
	ID       string             `json:"id,omitempty"`
	Type     string             `json:"type,omitempty"`
	Function openaiFunctionCall `json:"function"`
}

type openaiFunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type openaiTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
		Strict      *bool           `json:"strict,omitempty"`
	} `json:"function"`
}

type openaiResponseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
		Strict *bool           `json:"strict"`
	} `json:"json_schema"`
}

type openaiChatRequest struct {
	Model         string          `json:"model"`
	Messages      []openaiMessage `json:"messages"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           *int                  `json:"max_tokens"`
	MaxCompletionTokens *int                  `json:"max_completion_tokens"`
	Temperature         *float64              `json:"temperature"`
	TopP                *float64              `json:"top_p"`
	N                   *int                  `json:"n"`
	Stop                json.RawMessage       `json:"stop"`
	Seed                *int64                `json:"seed"`
	FrequencyPenalty    *float64              `json:"frequency_penalty"`
	PresencePenalty     *float64              `json:"presence_penalty"`
	ResponseFormat      *openaiResponseFormat `json:"response_format"`
	Tools               []json.RawMessage     `json:"tools"`
	ToolChoice          json.RawMessage       `json:"tool_choice"`
	Logprobs            bool                  `json:"logprobs"`
	TopLogprobs         *int                  `json:"top_logprobs"`
	User                string                `json:"user"`
	ReasoningEffort     string                `json:"reasoning_effort"`
	ServiceTier         string                `json:"service_tier"`
}

type openaiUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
	PromptDetails    *struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details,omitempty"`
}

type openaiLogprobs struct {
	Content []openaiTokenLogprob `json:"content"`
}

type openaiTokenLogprob struct {
	Token       string             `json:"token"`
	Logprob     float64            `json:"logprob"`
	Bytes       []int              `json:"bytes"`
	TopLogprobs []openaiTopLogprob `json:"top_logprobs"`
}

type openaiTopLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

type openaiChoice struct {
	Index        int             `json:"index"`
	Message      *openaiOutMsg   `json:"message,omitempty"`
	Delta        *openaiOutMsg   `json:"delta,omitempty"`
	Logprobs     *openaiLogprobs `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type openaiOutMsg struct {
	Role      string           `json:"role,omitempty"`
	Content   *string          `json:"content,omitempty"`
	Reasoning string           `json:"reasoning_content,omitempty"`
	ToolCalls []openaiToolCall `json:"tool_calls,omitempty"`
	Refusal   *string          `json:"refusal,omitempty"`
}

type openaiChatResponse struct {
	ID                string         `json:"id"`
	Object            string         `json:"object"`
	Created           int64          `json:"created"`
	Model             string         `json:"model"`
	SystemFingerprint string         `json:"system_fingerprint"`
	Choices           []openaiChoice `json:"choices"`
	Usage             *openaiUsage   `json:"usage,omitempty"`
}

// openaiError is OpenAI's error shape.
// serveOpenAI decodes the body into a fresh request and runs run on it,
// answering a failure of either in OpenAI's error shape.
func serveOpenAI[T any](w http.ResponseWriter, r *http.Request, run func(http.ResponseWriter, *http.Request, *T) error) {
	var req T
	if err := decode(r, &req); err != nil {
		openaiError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := run(w, r, &req); err != nil {
		openaiError(w, statusOf(err), err.Error())
	}
}

func openaiError(w http.ResponseWriter, status int, msg string) {
	typ := "invalid_request_error"
	switch {
	case status == http.StatusNotFound:
		typ = "not_found_error"
	case status >= 500:
		typ = "server_error"
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
}

func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// text of an OpenAI content field: a string, null, or an array of parts
// of which only text parts are supported.
func contentText(raw json.RawMessage, where string) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", badRequest("%s.content: want a string or an array of content parts", where)
	}
	var b strings.Builder
	for i, p := range parts {
		switch p.Type {
		case "text", "input_text", "output_text":
			b.WriteString(p.Text)
		default:
			return "", badRequest("%s.content[%d]: part type %q is not supported (text only: the runtime has no vision or audio models yet)", where, i, p.Type)
		}
	}
	return b.String(), nil
}

func parseStop(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, badRequest("stop: %v", err)
	}
	stops, err := stopOpt("stop", v)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	return stops, nil
}

// openaiOptions maps OpenAI's sampling fields onto generation options,
// with OpenAI's defaults (temperature 1, top_p 1, no top-k, no penalty).
func openaiOptions(temp, topP, freq, pres *float64, seed *int64, maxTokens *int, stop json.RawMessage) (genOptions, error) {
	o := genOptions{NumPredict: -1}
	o.Sampling.Temperature, o.Sampling.TopP, o.Sampling.RepeatPenalty = 1, 1, 1
	check := func(name string, v *float64, lo, hi float64, dst *float32) error {
		if v == nil {
			return nil
		}
		if *v < lo || *v > hi {
			return badRequest("%s: %v is out of range [%g, %g]", name, *v, lo, hi)
		}
		*dst = float32(*v)
		return nil
	}
	if err := check("temperature", temp, 0, 2, &o.Sampling.Temperature); err != nil {
		return o, err
	}
	if err := check("top_p", topP, 0, 1, &o.Sampling.TopP); err != nil {
		return o, err
	}
	if err := check("frequency_penalty", freq, -2, 2, &o.Sampling.FrequencyPenalty); err != nil {
		return o, err
	}
	if err := check("presence_penalty", pres, -2, 2, &o.Sampling.PresencePenalty); err != nil {
		return o, err
	}
	if seed != nil {
		o.Sampling.Seed, o.seedSet = uint64(*seed), true
	}
	if maxTokens != nil {
		if *maxTokens < 1 {
			return o, badRequest("max_tokens: %d must be at least 1", *maxTokens)
		}
		o.NumPredict = *maxTokens
	}
	var err error
	o.Stop, err = parseStop(stop)
	return o, err
}

func (s *Server) openaiChat(w http.ResponseWriter, r *http.Request) {
	serveOpenAI(w, r, s.openaiChatRun)
}

func (s *Server) openaiChatRun(w http.ResponseWriter, r *http.Request, req *openaiChatRequest) error {
	if req.Model == "" {
		return badRequest("model is required")
	}
	if len(req.Messages) == 0 {
		return badRequest("messages: at least one message is required")
	}
	maxTok := req.MaxCompletionTokens
	if maxTok == nil {
		maxTok = req.MaxTokens
	}
	opts, err := openaiOptions(req.Temperature, req.TopP, req.FrequencyPenalty, req.PresencePenalty, req.Seed, maxTok, req.Stop)
	if err != nil {
		return err
	}
	n := 1
	if req.N != nil {
		if *req.N < 1 || *req.N > 8 {
			return badRequest("n: %d is out of range [1, 8]", *req.N)
		}
		n = *req.N
	}
	msgs, err := fromOpenAIMessages(req.Messages)
	if err != nil {
		return err
	}
	tools, forced, err := openaiTools(req.Tools, req.ToolChoice)
	if err != nil {
		return err
	}
	var think *bool
	if opts.Priority, err = serviceTier(req.ServiceTier); err != nil {
		return err
	}
	if req.ReasoningEffort != "" {
		think = ptr(req.ReasoningEffort != "none")
	}
	start := time.Now()
	m, err := s.acquire(r.Context(), req.Model)
	if err != nil {
		return err
	}
	defer m.Release(nil)
	text, err := s.renderChat(m, msgs, tools, think, "")
	if err != nil {
		return err
	}
	tokens := s.tokenize(m, text, true)
	logprobs := 0
	if req.Logprobs {
		logprobs = 1
		if req.TopLogprobs != nil {
			if *req.TopLogprobs < 0 || *req.TopLogprobs > 20 {
				return badRequest("top_logprobs: %d is out of range [0, 20]", *req.TopLogprobs)
			}
			logprobs += *req.TopLogprobs
		}
	}
	format, err := openaiFormat(req.ResponseFormat)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	streams := make([]<-chan runtime.Event, n)
	for i := range n {
		greq := opts.request(tokens, opts.NumCtx)
		if opts.seedSet {
			greq.Sampling.Seed += uint64(i)
		}
		greq.Client = clientKey(r)
		greq.Logprobs = logprobs
		switch {
		case forced != nil:
			greq.Constraint, err = s.toolConstraint(m, forced)
		default:
			greq.Constraint, err = s.constraint(m, format)
		}
		if err != nil {
			return err
		}
		if streams[i], err = m.Generate(ctx, greq); err != nil {
			cancel()
			for _, ch := range streams[:i] {
				for range ch {
				}
			}
			return err
		}
	}
	id, created := newID("chatcmpl-"), time.Now().Unix()
	fingerprint := "fp_ainative"
	if !req.Stream {
		resp := openaiChatResponse{ID: id, Object: "chat.completion", Created: created, Model: req.Model,
			SystemFingerprint: fingerprint, Usage: &openaiUsage{}}
		for i, ch := range streams {
			res := collect(ch, newOutputParser(m, tools, think != nil && *think || forced != nil, text))
			if res.err != nil {
				cancel()
				for _, rest := range streams[i+1:] {
					for range rest {
					}
				}
				return res.err
			}
			msg := &openaiOutMsg{Role: "assistant", Content: ptr(res.content), Reasoning: res.thinking}
			if forced != nil {
				res.calls = forcedCalls(forced, res)
				msg.Content = nil
			}
			for j, c := range res.calls {
				msg.ToolCalls = append(msg.ToolCalls, openaiToolCall{ID: callID(c), Type: "function", Function: openaiFunctionCall{Name: c.Name, Arguments: string(c.Arguments)}})
				_ = j
			}
			if len(msg.ToolCalls) > 0 && msg.Content != nil && *msg.Content == "" {
				msg.Content = nil
			}
			reason := finishReason(res.reason, len(res.calls) > 0)
			ch := openaiChoice{Index: i, Message: msg, FinishReason: &reason}
			if logprobs > 0 {
				ch.Logprobs = s.openaiLogprobs(m, res.logprobs)
			}
			resp.Choices = append(resp.Choices, ch)
			if i == 0 {
				resp.Usage.PromptTokens = res.stats.PromptTokens
				resp.Usage.PromptDetails = &struct {
					CachedTokens int `json:"cached_tokens"`
				}{res.stats.CachedTokens}
			}
			resp.Usage.CompletionTokens += res.stats.EvalTokens
		}
		resp.Usage.TotalTokens = resp.Usage.PromptTokens + resp.Usage.CompletionTokens
		_ = start
		writeJSON(w, http.StatusOK, resp)
		return nil
	}

	sw := s.newStream(w, "text/event-stream")
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	var mu sync.Mutex // choices stream concurrently into one response
	send := func(v any) {
		mu.Lock()
		defer mu.Unlock()
		if err := sw.sse("", v); err != nil {
			cancel()
		}
	}
	chunk := func(choice openaiChoice) openaiChatResponse {
		return openaiChatResponse{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			SystemFingerprint: fingerprint, Choices: []openaiChoice{choice}}
	}
	usage := openaiUsage{}
	var wg sync.WaitGroup
	var firstErr error
	for i, ch := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			send(chunk(openaiChoice{Index: i, Delta: &openaiOutMsg{Role: "assistant", Content: ptr("")}}))
			out := newOutputParser(m, tools, think != nil && *think || forced != nil, text)
			var calls int
			var all result
			for ev := range ch {
				c, th, tc := out.next(ev)
				all.content += c
				all.thinking += th
				if forced != nil {
					// A forced call's arguments are the whole output:
					// sent once it is complete.
					c, th, tc = "", "", nil
					if ev.Done && ev.Err == nil {
						tc = forcedCalls(forced, all)
					}
				}
				if ev.Done && ev.Err != nil && ev.Reason != runtime.StopCanceled {
					mu.Lock()
					if firstErr == nil {
						firstErr = ev.Err
					}
					mu.Unlock()
					continue
				}
				delta := &openaiOutMsg{Reasoning: th}
				if c != "" {
					delta.Content = ptr(c)
				}
				for _, call := range tc {
					idx := calls
					calls++
					delta.ToolCalls = append(delta.ToolCalls, openaiToolCall{Index: &idx, ID: callID(call), Type: "function",
						Function: openaiFunctionCall{Name: call.Name, Arguments: string(call.Arguments)}})
				}
				var lp *openaiLogprobs
				if logprobs > 0 && len(ev.Logprobs) > 0 {
					lp = s.openaiLogprobs(m, ev.Logprobs)
				}
				if delta.Content != nil || delta.Reasoning != "" || len(delta.ToolCalls) > 0 || lp != nil {
					send(chunk(openaiChoice{Index: i, Delta: delta, Logprobs: lp}))
				}
				if ev.Done {
					reason := finishReason(ev.Reason, calls > 0)
					send(chunk(openaiChoice{Index: i, Delta: &openaiOutMsg{}, FinishReason: &reason}))
					mu.Lock()
					if i == 0 {
						usage.PromptTokens = ev.Stats.PromptTokens
					}
					usage.CompletionTokens += ev.Stats.EvalTokens
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		sw.sse("", map[string]any{"error": map[string]any{"message": firstErr.Error(), "type": "server_error"}})
	} else if includeUsage {
		usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
		sw.sse("", openaiChatResponse{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			SystemFingerprint: fingerprint, Choices: []openaiChoice{}, Usage: &usage})
	}
	sw.write([]byte("data: [DONE]\n\n"))
	return nil
}

func callID(c toolCall) string {
	if c.ID != "" {
		return c.ID
	}
	return newID("call_")
}

func finishReason(r runtime.StopReason, calls bool) string {
	switch {
	case calls:
		return "tool_calls"
	case r == runtime.StopLength:
		return "length"
	}
	return "stop"
}

// result is a whole generation, collected.
type result struct {
	content, thinking string
	calls             []toolCall
	logprobs          []runtime.TokenLogprob
	tokens            []int32
	reason            runtime.StopReason
	stats             runtime.Stats
	err               error
}

func collect(events <-chan runtime.Event, out *outputParser) result {
	var res result
	var content, thinking strings.Builder
	for ev := range events {
		c, th, tc := out.next(ev)
		content.WriteString(c)
		thinking.WriteString(th)
		res.calls = append(res.calls, tc...)
		res.logprobs = append(res.logprobs, ev.Logprobs...)
		res.tokens = append(res.tokens, ev.Tokens...)
		if ev.Done {
			res.reason, res.stats = ev.Reason, ev.Stats
			if ev.Err != nil && ev.Reason != runtime.StopCanceled {
				res.err = ev.Err
			}
		}
	}
	res.content, res.thinking = content.String(), thinking.String()
	return res
}

func (s *Server) openaiLogprobs(m *runtime.Model, lps []runtime.TokenLogprob) *openaiLogprobs {
	out := &openaiLogprobs{Content: []openaiTokenLogprob{}}
	tok := m.Tokenizer()
	for _, lp := range lps {
		t := tokenText(tok, lp.Token)
		o := openaiTokenLogprob{Token: t, Logprob: float64(lp.Logprob), Bytes: bytesOf(t), TopLogprobs: []openaiTopLogprob{}}
		for _, alt := range lp.Top {
			at := tokenText(tok, alt.Token)
			o.TopLogprobs = append(o.TopLogprobs, openaiTopLogprob{Token: at, Logprob: float64(alt.Logprob), Bytes: bytesOf(at)})
		}
		out.Content = append(out.Content, o)
	}
	return out
}

func bytesOf(s string) []int {
	out := make([]int, len(s))
	for i := range len(s) {
		out[i] = int(s[i])
	}
	return out
}

// openaiTools reads the tools of a request, in the Chat Completions shape,
// and tool_choice: "none" drops them, "auto" (the default) lets the model
// choose, "required" or a named function forces a call, produced under a
// constraint so that it always parses.
func openaiTools(raw []json.RawMessage, choice json.RawMessage) (tools []json.RawMessage, forced *forcedTool, err error) {
	for i, t := range raw {
		var tool openaiTool
		if err := json.Unmarshal(t, &tool); err != nil {
			return nil, nil, badRequest("tools[%d]: %v", i, err)
		}
		if tool.Type != "function" {
			return nil, nil, badRequest("tools[%d].type: %q is not supported (function only)", i, tool.Type)
		}
		if tool.Function.Name == "" {
			return nil, nil, badRequest("tools[%d].function.name is required", i)
		}
	}
	tools = raw
	if len(choice) == 0 || string(choice) == "null" {
		return tools, nil, nil
	}
	var mode string
	if err := json.Unmarshal(choice, &mode); err == nil {
		switch mode {
		case "auto":
			return tools, nil, nil
		case "none":
			return nil, nil, nil
		case "required":
			if len(tools) == 0 {
				return nil, nil, badRequest("tool_choice: \"required\" needs tools")
			}
			return tools, &forcedTool{tools: tools}, nil
		}
		return nil, nil, badRequest("tool_choice: %q is not none, auto or required", mode)
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
		Name string `json:"name"` // the Responses API's shape
	}
	if err := json.Unmarshal(choice, &named); err != nil {
		return nil, nil, badRequest("tool_choice: %v", err)
	}
	name := named.Function.Name
	if name == "" {
		name = named.Name
	}
	for _, t := range tools {
		var tool openaiTool
		json.Unmarshal(t, &tool)
		if tool.Function.Name == name {
			return tools, &forcedTool{tools: []json.RawMessage{t}}, nil
		}
	}
	return nil, nil, badRequest("tool_choice: no tool named %q", name)
}

func openaiFormat(rf *openaiResponseFormat) (json.RawMessage, error) {
	if rf == nil {
		return nil, nil
	}
	switch rf.Type {
	case "", "text":
		return nil, nil
	case "json_object":
		return json.RawMessage(`"json"`), nil
	case "json_schema":
		if rf.JSONSchema == nil || len(rf.JSONSchema.Schema) == 0 {
			return nil, badRequest("response_format.json_schema.schema is required")
		}
		return rf.JSONSchema.Schema, nil
	}
	return nil, badRequest("response_format.type: %q is not text, json_object or json_schema", rf.Type)
}

type openaiCompletionRequest struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	Suffix        string          `json:"suffix"`
	MaxTokens     *int            `json:"max_tokens"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	N             *int            `json:"n"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Logprobs         *int            `json:"logprobs"`
	Echo             bool            `json:"echo"`
	Stop             json.RawMessage `json:"stop"`
	Seed             *int64          `json:"seed"`
	FrequencyPenalty *float64        `json:"frequency_penalty"`
	PresencePenalty  *float64        `json:"presence_penalty"`
	User             string          `json:"user"`
}

type openaiCompletionChoice struct {
	Text         string  `json:"text"`
	Index        int     `json:"index"`
	Logprobs     any     `json:"logprobs"`
	FinishReason *string `json:"finish_reason"`
}

type openaiCompletionResponse struct {
	ID                string                   `json:"id"`
	Object            string                   `json:"object"`
	Created           int64                    `json:"created"`
	Model             string                   `json:"model"`
	SystemFingerprint string                   `json:"system_fingerprint"`
	Choices           []openaiCompletionChoice `json:"choices"`
	Usage             *openaiUsage             `json:"usage,omitempty"`
}

func (s *Server) openaiCompletions(w http.ResponseWriter, r *http.Request) {
	serveOpenAI(w, r, s.openaiCompletionsRun)
}

func (s *Server) openaiCompletionsRun(w http.ResponseWriter, r *http.Request, req *openaiCompletionRequest) error {
	if req.Model == "" {
		return badRequest("model is required")
	}
	maxTok := req.MaxTokens
	if maxTok == nil {
		maxTok = ptr(16) // OpenAI's default for completions
	}
	opts, err := openaiOptions(req.Temperature, req.TopP, req.FrequencyPenalty, req.PresencePenalty, req.Seed, maxTok, req.Stop)
	if err != nil {
		return err
	}
	if req.N != nil && (*req.N < 1 || *req.N > 8) {
		return badRequest("n: %d is out of range [1, 8]", *req.N)
	}
	if req.Suffix != "" {
		return badRequest("suffix is not supported (fill-in-the-middle needs a model with FIM tokens)")
	}
	m, err := s.acquire(r.Context(), req.Model)
	if err != nil {
		return err
	}
	defer m.Release(nil)
	var tokens []int32
	var promptText string
	var ps string
	var ids []int32
	if err := json.Unmarshal(req.Prompt, &ps); err == nil {
		promptText = ps
		tokens = s.tokenize(m, ps, true)
	} else if err := json.Unmarshal(req.Prompt, &ids); err == nil && len(ids) > 0 {
		tokens = ids
		promptText = m.Tokenizer().Decode(ids)
	} else {
		var list []string
		if err := json.Unmarshal(req.Prompt, &list); err != nil || len(list) != 1 {
			return badRequest("prompt: want a string, an array of one string, or an array of token ids")
		}
		promptText = list[0]
		tokens = s.tokenize(m, list[0], true)
	}
	n := 1
	if req.N != nil {
		n = *req.N
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	id, created := newID("cmpl-"), time.Now().Unix()
	resp := openaiCompletionResponse{ID: id, Object: "text_completion", Created: created, Model: req.Model, SystemFingerprint: "fp_ainative"}
	var sw *streamWriter
	if req.Stream {
		sw = s.newStream(w, "text/event-stream")
	}
	usage := openaiUsage{}
	for i := range n {
		greq := opts.request(tokens, opts.NumCtx)
		if opts.seedSet {
			greq.Sampling.Seed += uint64(i)
		}
		greq.Client = clientKey(r)
		events, err := m.Generate(ctx, greq)
		if err != nil {
			if sw != nil {
				sw.sse("", map[string]any{"error": map[string]any{"message": err.Error()}})
				return nil
			}
			return err
		}
		text := ""
		if req.Echo {
			text = promptText
			if sw != nil {
				sw.sse("", openaiCompletionResponse{ID: id, Object: "text_completion", Created: created, Model: req.Model,
					Choices: []openaiCompletionChoice{{Text: text, Index: i}}})
			}
		}
		for ev := range events {
			if ev.Done && ev.Err != nil && ev.Reason != runtime.StopCanceled {
				if sw != nil {
					sw.sse("", map[string]any{"error": map[string]any{"message": ev.Err.Error()}})
					continue
				}
				cancel()
				for range events {
				}
				return ev.Err
			}
			text += ev.Text
			if sw != nil && (ev.Text != "" || ev.Done) {
				c := openaiCompletionChoice{Text: ev.Text, Index: i}
				if ev.Done {
					c.FinishReason = ptr(finishReason(ev.Reason, false))
				}
				if err := sw.sse("", openaiCompletionResponse{ID: id, Object: "text_completion", Created: created, Model: req.Model, Choices: []openaiCompletionChoice{c}}); err != nil {
					cancel()
				}
			}
			if ev.Done {
				usage.PromptTokens = ev.Stats.PromptTokens
				usage.CompletionTokens += ev.Stats.EvalTokens
				resp.Choices = append(resp.Choices, openaiCompletionChoice{Text: text, Index: i, FinishReason: ptr(finishReason(ev.Reason, false))})
			}
		}
	}
	usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
	if sw != nil {
		if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
			sw.sse("", openaiCompletionResponse{ID: id, Object: "text_completion", Created: created, Model: req.Model, Choices: []openaiCompletionChoice{}, Usage: &usage})
		}
		sw.write([]byte("data: [DONE]\n\n"))
		return nil
	}
	resp.Usage = &usage
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// fromOpenAIMessages converts Chat Completions messages to the messages a
// template renders; "developer" is a system message.
func fromOpenAIMessages(in []openaiMessage) ([]ollamaMessage, error) {
	msgs := make([]ollamaMessage, 0, len(in))
	for i, m := range in {
		where := fmt.Sprintf("messages[%d]", i)
		text, err := contentText(m.Content, where)
		if err != nil {
			return nil, err
		}
		role := m.Role
		switch role {
		case "system", "user", "assistant", "tool":
		case "developer":
			role = "system"
		default:
			return nil, badRequest("%s.role: %q is not one of system, developer, user, assistant, tool", where, m.Role)
		}
		om := ollamaMessage{Role: role, Content: text, Thinking: m.Reasoning, ToolCallID: m.ToolCallID, ToolName: m.Name}
		for j, tc := range m.ToolCalls {
			args := json.RawMessage(tc.Function.Arguments)
			if !json.Valid(args) {
				return nil, badRequest("%s.tool_calls[%d].function.arguments: not valid JSON", where, j)
			}
			om.ToolCalls = append(om.ToolCalls, ollamaToolCall{ID: tc.ID, Function: ollamaToolFunction{Index: j, Name: tc.Function.Name, Arguments: args}})
		}
		msgs = append(msgs, om)
	}
	return msgs, nil
}
