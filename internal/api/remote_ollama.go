package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Ollama's /api/chat and /api/generate served by a remote backend's
// OpenAI endpoints: the request is translated to /v1/chat/completions
// (or /v1/completions for a raw prompt), the answer back into Ollama's
// shape, streamed as NDJSON or not.

// chatMessage is one message of a chat completions request sent to a
// backend.
type chatMessage struct {
	Role       string           `json:"role"`
	Content    string           `json:"content"`
	ToolCalls  []openaiToolCall `json:"tool_calls,omitempty"`
	ToolCallID string           `json:"tool_call_id,omitempty"`
}

// chatMessages converts Ollama-shaped messages (which the Responses
// input is converted to as well) into OpenAI's.
func chatMessages(msgs []ollamaMessage) []chatMessage {
	out := make([]chatMessage, 0, len(msgs))
	for _, m := range msgs {
		om := chatMessage{Role: m.Role, Content: m.Content, ToolCallID: m.ToolCallID}
		for _, c := range m.ToolCalls {
			om.ToolCalls = append(om.ToolCalls, openaiToolCall{ID: c.ID, Type: "function",
				Function: openaiFunctionCall{Name: c.Function.Name, Arguments: string(c.Function.Arguments)}})
		}
		out = append(out, om)
	}
	return out
}

// backendRequestOf starts an OpenAI request body from Ollama's options:
// num_predict becomes max_tokens (-1 and -2, "until the context is full",
// send none: the backend's own limit applies), and temperature, top_p,
// seed and stop keep their names. Options OpenAI has no field for
// (top_k, min_p, repeat_penalty, num_ctx) are the backend's to choose.
func backendRequestOf(remoteModel string, stream bool, opts genOptions) map[string]any {
	oreq := map[string]any{"model": remoteModel, "stream": stream,
		"temperature": opts.Sampling.Temperature, "top_p": opts.Sampling.TopP}
	if stream {
		oreq["stream_options"] = map[string]bool{"include_usage": true}
	}
	if opts.NumPredict > 0 {
		oreq["max_tokens"] = opts.NumPredict
	}
	if opts.seedSet {
		oreq["seed"] = opts.Sampling.Seed
	}
	if len(opts.Stop) > 0 {
		oreq["stop"] = opts.Stop
	}
	return oreq
}

// ollamaFormat is Ollama's format ("json" or a JSON schema) as an OpenAI
// response_format, or nil when there is none.
func ollamaFormat(format json.RawMessage) any {
	f := bytes.TrimSpace(format)
	switch {
	case len(f) == 0 || string(f) == "null" || string(f) == `""`:
		return nil
	case string(f) == `"json"`:
		return map[string]string{"type": "json_object"}
	}
	return map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "format", "schema": json.RawMessage(f), "strict": true}}
}

// backendChunk is an answer of a backend's chat completions or
// completions, whole or one streamed chunk: the fields read back.
type backendChunk struct {
	Choices []struct {
		Text         *string       `json:"text"`
		Message      *openaiOutMsg `json:"message"`
		Delta        *openaiOutMsg `json:"delta"`
		FinishReason *string       `json:"finish_reason"`
	} `json:"choices"`
	Usage *openaiUsage `json:"usage"`
}

// piece is what one choice of a chunk adds: text, reasoning, tool calls.
func (c *backendChunk) piece(i int) (text, reasoning string, calls []openaiToolCall) {
	ch := c.Choices[i]
	if ch.Text != nil {
		text = *ch.Text
	}
	for _, m := range []*openaiOutMsg{ch.Message, ch.Delta} {
		if m == nil {
			continue
		}
		if m.Content != nil {
			text += *m.Content
		}
		reasoning += m.Reasoning
		calls = append(calls, m.ToolCalls...)
	}
	return text, reasoning, calls
}

// toolCallMerger puts streamed tool-call deltas together by index, the
// way OpenAI streams them: the first delta of a call has its id and name,
// the following ones pieces of its arguments.
type toolCallMerger []openaiToolCall

func (m *toolCallMerger) add(deltas []openaiToolCall, streamed bool) {
	for _, tc := range deltas {
		i := len(*m) // a whole answer lists each call once
		if streamed {
			i = 0
			if tc.Index != nil {
				i = *tc.Index
			}
			if i < 0 || i > len(*m) {
				i = len(*m) // an index that skips ahead starts a new call
			}
		}
		if i == len(*m) {
			*m = append(*m, openaiToolCall{Type: "function"})
		}
		c := &(*m)[i]
		if tc.ID != "" {
			c.ID = tc.ID
		}
		c.Function.Name += tc.Function.Name
		c.Function.Arguments += tc.Function.Arguments
	}
}

// eachEvent calls fn with the data of each server-sent event of body
// until "[DONE]" or the end of the stream. A line may be up to 8 MiB.
func eachEvent(body io.Reader, fn func(data []byte) error) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	for sc.Scan() {
		data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data:"))
		if !ok {
			continue
		}
		data = bytes.TrimSpace(data)
		if string(data) == "[DONE]" {
			return nil
		}
		if err := fn(data); err != nil {
			return err
		}
	}
	return sc.Err()
}

// callBackend sends oreq to the backend's path. A failure is returned as
// the status and message to answer the client with; a backend's own error
// keeps its status and message.
func (s *Server) callBackend(ctx context.Context, b *Backend, path string, oreq any) (*http.Response, int, string) {
	body, err := json.Marshal(oreq)
	if err != nil {
		return nil, http.StatusInternalServerError, err.Error()
	}
	resp, err := s.backendRequest(ctx, b, path, body)
	if err != nil {
		return nil, http.StatusBadGateway, fmt.Sprintf("remote backend %q: %v", b.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, resp.StatusCode, fmt.Sprintf("remote backend %q: %s", b.Name, remoteError(msg))
	}
	return resp, http.StatusOK, ""
}

// ollamaDoneReason maps OpenAI's finish_reason to Ollama's done_reason,
// which is "length" when the token budget ran out and "stop" otherwise
// (a tool call included).
func ollamaDoneReason(finish string) string {
	if finish == "length" {
		return "length"
	}
	return "stop"
}

// backendAnswer is what a backend answered: its text, reasoning and tool
// calls, why it stopped in Ollama's terms ("stop" or "length") and its
// token counts, when it sent them.
type backendAnswer struct {
	text, thinking string
	calls          toolCallMerger
	doneReason     string
	usage          *openaiUsage
}

// relayBackend reads a backend's answer (streamed when stream is set) and
// calls piece for each streamed piece of text or reasoning; it returns
// the whole answer. A piece that cannot be delivered (the client left)
// ends the relay with its error.
func relayBackend(body io.Reader, stream bool, piece func(text, thinking string) error) (backendAnswer, error) {
	a := backendAnswer{doneReason: "stop"}
	take := func(c *backendChunk, streamed bool) error {
		if c.Usage != nil {
			a.usage = c.Usage
		}
		for i := range c.Choices {
			if fr := c.Choices[i].FinishReason; fr != nil && *fr != "" {
				a.doneReason = ollamaDoneReason(*fr)
			}
			text, th, calls := c.piece(i)
			a.text += text
			a.thinking += th
			a.calls.add(calls, streamed)
			if streamed && (text != "" || th != "") {
				if err := piece(text, th); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if !stream {
		var c backendChunk
		if err := json.NewDecoder(io.LimitReader(body, 64<<20)).Decode(&c); err != nil {
			return a, fmt.Errorf("unreadable answer: %v", err)
		}
		if len(c.Choices) == 0 {
			return a, errors.New("the answer has no choices")
		}
		return a, take(&c, false)
	}
	err := eachEvent(body, func(data []byte) error {
		var c backendChunk
		if json.Unmarshal(data, &c) != nil {
			return nil // a comment or an event of another shape
		}
		return take(&c, true)
	})
	return a, err
}

func (a *backendAnswer) metrics(start time.Time) ollamaMetrics {
	m := ollamaMetrics{TotalDuration: int64(time.Since(start))}
	if a.usage != nil {
		m.PromptEvalCount, m.EvalCount = a.usage.PromptTokens, a.usage.CompletionTokens
	}
	return m
}

func (a *backendAnswer) toolCalls() []ollamaToolCall {
	var out []ollamaToolCall
	for i, c := range a.calls {
		args := json.RawMessage(c.Function.Arguments)
		if !json.Valid(args) {
			args, _ = json.Marshal(c.Function.Arguments) // keep what came, as a string
		}
		out = append(out, ollamaToolCall{ID: c.ID, Function: ollamaToolFunction{Index: i, Name: c.Function.Name, Arguments: args}})
	}
	return out
}

// ollamaChatRemote serves Ollama's /api/chat from a remote backend's
// /chat/completions, translating the request and the answer.
func (s *Server) ollamaChatRemote(w http.ResponseWriter, r *http.Request, b *Backend, remoteModel string) {
	var req ollamaChatRequest
	if err := decode(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	opts, err := parseOllamaOptions(req.Options)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	stream := streaming(req.Stream)
	oreq := backendRequestOf(remoteModel, stream, opts)
	oreq["messages"] = chatMessages(req.Messages)
	if len(req.Tools) > 0 {
		oreq["tools"] = req.Tools
	}
	if f := ollamaFormat(req.Format); f != nil {
		oreq["response_format"] = f
	}
	s.ollamaRelay(w, r, b, "/chat/completions", oreq, stream, func(a *backendAnswer, text, thinking string, m ollamaMetrics) any {
		out := ollamaChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(),
			Message: ollamaMessage{Role: "assistant", Content: text, Thinking: thinking}, ollamaMetrics: m}
		if a != nil {
			out.Message.ToolCalls = a.toolCalls()
			out.Done, out.DoneReason = true, a.doneReason
		}
		return out
	})
}

// ollamaGenerateRemote serves Ollama's /api/generate from a remote
// backend, as Ollama serves it from a local model: a raw prompt (or one
// with a suffix, for fill-in-the-middle) is sent as it is to the
// backend's /completions; any other prompt is a chat of one user message,
// after the system message when there is one, sent to /chat/completions,
// where the backend applies the model's template as Ollama would.
func (s *Server) ollamaGenerateRemote(w http.ResponseWriter, r *http.Request, b *Backend, remoteModel string) {
	var req ollamaGenerateRequest
	if err := decode(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	opts, err := parseOllamaOptions(req.Options)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, err := parseThink(req.Think); err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	switch {
	case len(req.Images) > 0:
		writeError(w, http.StatusBadRequest, "images are not supported: the runtime has no vision models yet")
		return
	case len(req.Context) > 0:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("context (the token ids of an earlier answer) cannot be continued on remote backend %q, whose tokens are its own; send the conversation to /api/chat", b.Name))
		return
	case req.Template != "":
		writeError(w, http.StatusBadRequest, fmt.Sprintf("template cannot be overridden for model %q: remote backend %q applies its own", req.Model, b.Name))
		return
	case req.Logprobs:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("logprobs are not forwarded to remote backend %q", b.Name))
		return
	}
	if req.Prompt == "" && req.System == "" {
		// Ollama's idiom for "load the model": a remote one is always ready.
		writeJSON(w, http.StatusOK, ollamaGenerateResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Done: true, DoneReason: "load"})
		return
	}
	stream := streaming(req.Stream)
	oreq := backendRequestOf(remoteModel, stream, opts)
	path := "/chat/completions"
	format := ollamaFormat(req.Format)
	if req.Raw || req.Suffix != "" {
		if format != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("format needs the chat form of generate for model %q (served by remote backend %q): drop raw and suffix", req.Model, b.Name))
			return
		}
		path = "/completions"
		oreq["prompt"] = req.Prompt
		if req.Suffix != "" {
			oreq["suffix"] = req.Suffix
		}
	} else {
		var msgs []chatMessage
		if req.System != "" {
			msgs = append(msgs, chatMessage{Role: "system", Content: req.System})
		}
		oreq["messages"] = append(msgs, chatMessage{Role: "user", Content: req.Prompt})
		if format != nil {
			oreq["response_format"] = format
		}
	}
	s.ollamaRelay(w, r, b, path, oreq, stream, func(a *backendAnswer, text, thinking string, m ollamaMetrics) any {
		out := ollamaGenerateResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Response: text, Thinking: thinking, ollamaMetrics: m}
		if a != nil {
			out.Done, out.DoneReason = true, a.doneReason
		}
		return out
	})
}

// ollamaRelay sends oreq to the backend and answers in Ollama's shape:
// shape makes a streamed piece (done is nil) or the final answer (done
// is the whole answer, metrics its counts and durations).
func (s *Server) ollamaRelay(w http.ResponseWriter, r *http.Request, b *Backend, path string, oreq map[string]any, stream bool,
	shape func(done *backendAnswer, text, thinking string, metrics ollamaMetrics) any) {
	start := time.Now()
	resp, status, msg := s.callBackend(r.Context(), b, path, oreq)
	if resp == nil {
		writeError(w, status, msg)
		return
	}
	defer resp.Body.Close()
	final := func(a *backendAnswer, text, thinking string) any {
		return shape(a, text, thinking, a.metrics(start))
	}
	if !stream {
		a, err := relayBackend(resp.Body, false, nil)
		if err != nil {
			writeError(w, http.StatusBadGateway, fmt.Sprintf("remote backend %q: %v", b.Name, err))
			return
		}
		writeJSON(w, http.StatusOK, final(&a, a.text, a.thinking))
		return
	}
	sw := s.newStream(w, "application/x-ndjson")
	a, err := relayBackend(resp.Body, true, func(text, thinking string) error {
		return sw.ndjson(shape(nil, text, thinking, ollamaMetrics{}))
	})
	if err != nil {
		if r.Context().Err() == nil && !errors.Is(err, context.Canceled) {
			sw.ndjson(map[string]string{"error": fmt.Sprintf("remote backend %q: %v", b.Name, err)})
		}
		return
	}
	sw.ndjson(final(&a, "", ""))
}
