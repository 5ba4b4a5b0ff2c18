package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/raym33/ainative/internal/runtime"
)

// Ollama's API: https://github.com/ollama/ollama/blob/main/docs/api.md.

type ollamaGenerateRequest struct {
	Model       string          `json:"model"`
	Prompt      string          `json:"prompt"`
	Suffix      string          `json:"suffix"`
	System      string          `json:"system"`
	Template    string          `json:"template"`
	Context     []int32         `json:"context"`
	Stream      *bool           `json:"stream"`
	Raw         bool            `json:"raw"`
	Format      json.RawMessage `json:"format"`
	KeepAlive   *duration       `json:"keep_alive"`
	Images      []string        `json:"images"`
	Options     map[string]any  `json:"options"`
	Think       json.RawMessage `json:"think"`
	Logprobs    bool            `json:"logprobs"`
	TopLogprobs int             `json:"top_logprobs"`
}

type ollamaMessage struct {
	Role       string           `json:"role"`
	Content    string           `json:"content"`
	Thinking   string           `json:"thinking,omitempty"`
	Images     []string         `json:"images,omitempty"`
	ToolCalls  []ollamaToolCall `json:"tool_calls,omitempty"`
	ToolName   string           `json:"tool_name,omitempty"`
	ToolCallID string           `json:"tool_call_id,omitempty"`
}

type ollamaToolCall struct {
	ID       string             `json:"id,omitempty"`
	Function ollamaToolFunction `json:"function"`
}

type ollamaToolFunction struct {
	Index     int             `json:"index"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

type ollamaChatRequest struct {
	Model       string            `json:"model"`
	Messages    []ollamaMessage   `json:"messages"`
	Stream      *bool             `json:"stream"`
	Format      json.RawMessage   `json:"format"`
	KeepAlive   *duration         `json:"keep_alive"`
	Tools       []json.RawMessage `json:"tools"`
	Options     map[string]any    `json:"options"`
	Think       json.RawMessage   `json:"think"`
	Logprobs    bool              `json:"logprobs"`
	TopLogprobs int               `json:"top_logprobs"`
}

type ollamaMetrics struct {
	TotalDuration      int64 `json:"total_duration,omitempty"`
	LoadDuration       int64 `json:"load_duration,omitempty"`
	PromptEvalCount    int   `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64 `json:"prompt_eval_duration,omitempty"`
	EvalCount          int   `json:"eval_count,omitempty"`
	EvalDuration       int64 `json:"eval_duration,omitempty"`
}

// metricsOf reports a generation's stats; load is the time acquiring the
// model took (loading it, if it was not loaded).
func metricsOf(st runtime.Stats, load time.Duration) ollamaMetrics {
	return ollamaMetrics{
		TotalDuration: int64(st.Total), LoadDuration: int64(load),
		PromptEvalCount: st.PromptTokens, PromptEvalDuration: int64(st.PromptEval),
		EvalCount: st.EvalTokens, EvalDuration: int64(st.Eval),
	}
}

type ollamaLogprob struct {
	Token       string             `json:"token"`
	Logprob     float64            `json:"logprob"`
	Bytes       []int              `json:"bytes,omitempty"`
	TopLogprobs []ollamaTopLogprob `json:"top_logprobs,omitempty"`
}

type ollamaTopLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes,omitempty"`
}

type ollamaGenerateResponse struct {
	Model      string          `json:"model"`
	CreatedAt  time.Time       `json:"created_at"`
	Response   string          `json:"response"`
	Thinking   string          `json:"thinking,omitempty"`
	Done       bool            `json:"done"`
	DoneReason string          `json:"done_reason,omitempty"`
	Context    []int32         `json:"context,omitempty"`
	Logprobs   []ollamaLogprob `json:"logprobs,omitempty"`
	ollamaMetrics
}

type ollamaChatResponse struct {
	Model      string          `json:"model"`
	CreatedAt  time.Time       `json:"created_at"`
	Message    ollamaMessage   `json:"message"`
	Done       bool            `json:"done"`
	DoneReason string          `json:"done_reason,omitempty"`
	Logprobs   []ollamaLogprob `json:"logprobs,omitempty"`
	ollamaMetrics
}

func streaming(b *bool) bool { return b == nil || *b }

// parseThink reads Ollama's think field: a boolean, or an effort level
// ("low", "medium", "high") that means on for the templates we render.
func parseThink(raw json.RawMessage) (*bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return &b, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		switch s {
		case "low", "medium", "high":
			return ptr(true), nil
		case "none", "":
			return ptr(false), nil
		}
	}
	return nil, badRequest("think: %s is not true, false, \"low\", \"medium\" or \"high\"", jsonText(json.RawMessage(raw)))
}

func (s *Server) ollamaGenerate(w http.ResponseWriter, r *http.Request) {
	var req ollamaGenerateRequest
	if err := decodeForModel(r, &req, &req.Model, nil); err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	opts, err := parseOllamaOptions(req.Options)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	think, err := parseThink(req.Think)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	if len(req.Images) > 0 {
		writeError(w, http.StatusBadRequest, "images are not supported: the runtime has no vision models yet")
		return
	}
	if req.Suffix != "" {
		writeError(w, http.StatusBadRequest, "suffix (fill-in-the-middle) is not supported yet")
		return
	}
	start := time.Now()
	m, err := s.acquire(r.Context(), req.Model)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	defer m.Release(req.KeepAlive.ptr())
	load := time.Since(start)
	if req.Prompt == "" && req.System == "" && len(req.Context) == 0 {
		// Ollama's idiom for "load the model" (or, with keep_alive 0,
		// "unload it").
		writeJSON(w, http.StatusOK, ollamaGenerateResponse{Model: req.Model, CreatedAt: time.Now().UTC(),
			Done: true, DoneReason: "load", ollamaMetrics: ollamaMetrics{LoadDuration: int64(load)}})
		return
	}
	var text string
	if req.Raw {
		text = req.Prompt
	} else {
		var msgs []ollamaMessage
		if req.System != "" {
			msgs = append(msgs, ollamaMessage{Role: "system", Content: req.System})
		}
		msgs = append(msgs, ollamaMessage{Role: "user", Content: req.Prompt})
		text, err = s.renderChat(m, msgs, nil, think, req.Template)
		if err != nil {
			writeError(w, statusOf(err), err.Error())
			return
		}
	}
	tokens := append([]int32(nil), req.Context...)
	tokens = append(tokens, s.tokenize(m, text, len(tokens) == 0)...)
	events, cancel, err := s.ollamaStart(r, m, opts, tokens, req.KeepAlive, req.Logprobs, req.TopLogprobs, req.Format)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	defer cancel()
	out := newOutputParser(m, nil, think != nil && *think, text)
	var sw *streamWriter
	if streaming(req.Stream) {
		sw = s.newStream(w, "application/x-ndjson")
	}
	var all strings.Builder
	var thinking strings.Builder
	var logprobs []ollamaLogprob
	generated := tokens
	for ev := range events {
		generated = append(generated, ev.Tokens...)
		lps := s.ollamaLogprobs(m, ev.Logprobs)
		content, th, _ := out.next(ev)
		if ev.Done && ev.Err != nil && ev.Reason != runtime.StopCanceled {
			ollamaFail(w, sw, ev.Err)
			continue
		}
		if sw == nil {
			all.WriteString(content)
			thinking.WriteString(th)
			logprobs = append(logprobs, lps...)
			if ev.Done {
				writeJSON(w, http.StatusOK, ollamaGenerateResponse{Model: req.Model, CreatedAt: time.Now().UTC(),
					Response: all.String(), Thinking: thinking.String(), Done: true, DoneReason: string(ev.Reason),
					Context: generated, Logprobs: logprobs, ollamaMetrics: metricsOf(ev.Stats, load)})
			}
			continue
		}
		if !ev.Done && content == "" && th == "" && len(lps) == 0 {
			continue
		}
		resp := ollamaGenerateResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Response: content, Thinking: th, Logprobs: lps}
		if ev.Done {
			resp.Done, resp.DoneReason, resp.Context = true, string(ev.Reason), generated
			resp.ollamaMetrics = metricsOf(ev.Stats, load)
		}
		if err := sw.ndjson(resp); err != nil {
			cancel() // the client is gone: free its sequence at the next step
		}
	}
}

func (s *Server) ollamaChat(w http.ResponseWriter, r *http.Request) {
	var req ollamaChatRequest
	if err := decodeForModel(r, &req, &req.Model, nil); err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	opts, err := parseOllamaOptions(req.Options)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	think, err := parseThink(req.Think)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	for i, msg := range req.Messages {
		if len(msg.Images) > 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("messages[%d]: images are not supported: the runtime has no vision models yet", i))
			return
		}
		switch msg.Role {
		case "system", "user", "assistant", "tool", "developer":
		default:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("messages[%d]: role %q is not one of system, user, assistant, tool", i, msg.Role))
			return
		}
	}
	start := time.Now()
	m, err := s.acquire(r.Context(), req.Model)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	defer m.Release(req.KeepAlive.ptr())
	load := time.Since(start)
	if len(req.Messages) == 0 {
		writeJSON(w, http.StatusOK, ollamaChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(),
			Message: ollamaMessage{Role: "assistant"}, Done: true, DoneReason: "load",
			ollamaMetrics: ollamaMetrics{LoadDuration: int64(load)}})
		return
	}
	text, err := s.renderChat(m, req.Messages, req.Tools, think, "")
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	tokens := s.tokenize(m, text, true)
	events, cancel, err := s.ollamaStart(r, m, opts, tokens, req.KeepAlive, req.Logprobs, req.TopLogprobs, req.Format)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	defer cancel()
	out := newOutputParser(m, req.Tools, think != nil && *think, text)
	var sw *streamWriter
	if streaming(req.Stream) {
		sw = s.newStream(w, "application/x-ndjson")
	}
	var content, thinking strings.Builder
	var calls []ollamaToolCall
	var logprobs []ollamaLogprob
	for ev := range events {
		lps := s.ollamaLogprobs(m, ev.Logprobs)
		c, th, tc := out.next(ev)
		newCalls := toOllamaCalls(tc, len(calls))
		if ev.Done && ev.Err != nil && ev.Reason != runtime.StopCanceled {
			ollamaFail(w, sw, ev.Err)
			continue
		}
		if sw == nil {
			content.WriteString(c)
			thinking.WriteString(th)
			calls = append(calls, newCalls...)
			logprobs = append(logprobs, lps...)
			if ev.Done {
				writeJSON(w, http.StatusOK, ollamaChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(),
					Message: ollamaMessage{Role: "assistant", Content: content.String(), Thinking: thinking.String(), ToolCalls: calls},
					Done:    true, DoneReason: string(ev.Reason), Logprobs: logprobs,
					ollamaMetrics: metricsOf(ev.Stats, load)})
			}
			continue
		}
		calls = append(calls, newCalls...)
		if !ev.Done && c == "" && th == "" && len(newCalls) == 0 && len(lps) == 0 {
			continue
		}
		resp := ollamaChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(),
			Message: ollamaMessage{Role: "assistant", Content: c, Thinking: th, ToolCalls: newCalls}, Logprobs: lps}
		if ev.Done {
			resp.Done, resp.DoneReason = true, string(ev.Reason)
			resp.ollamaMetrics = metricsOf(ev.Stats, load)
		}
		if err := sw.ndjson(resp); err != nil {
			cancel()
		}
	}
}

func toOllamaCalls(calls []toolCall, index int) []ollamaToolCall {
	var out []ollamaToolCall
	for i, c := range calls {
		out = append(out, ollamaToolCall{ID: c.ID, Function: ollamaToolFunction{Index: index + i, Name: c.Name, Arguments: c.Arguments}})
	}
	return out
}

func (s *Server) ollamaLogprobs(m *runtime.Model, lps []runtime.TokenLogprob) []ollamaLogprob {
	var out []ollamaLogprob
	tok := m.Tokenizer()
	for _, lp := range lps {
		o := ollamaLogprob{Token: tokenText(tok, lp.Token), Logprob: float64(lp.Logprob)}
		for _, t := range lp.Top {
			o.TopLogprobs = append(o.TopLogprobs, ollamaTopLogprob{Token: tokenText(tok, t.Token), Logprob: float64(t.Logprob)})
		}
		out = append(out, o)
	}
	return out
}

// acquire loads a model for a request, turning "no such model" into the
// message Ollama's clients show.
func (s *Server) acquire(ctx context.Context, name string) (*runtime.Model, error) {
	m, err := s.rt.Acquire(ctx, name)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil, &requestError{http.StatusNotFound, fmt.Sprintf("model %q not found, try pulling it first", name)}
	}
	return m, err
}

func (s *Server) ollamaVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": Version})
}

type ollamaPsModel struct {
	Name          string             `json:"name"`
	Model         string             `json:"model"`
	Size          int64              `json:"size"`
	Digest        string             `json:"digest"`
	Details       ollamaModelDetails `json:"details"`
	ExpiresAt     time.Time          `json:"expires_at"`
	SizeVRAM      int64              `json:"size_vram"`
	ContextLength int                `json:"context_length"`
}

type ollamaModelDetails struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

func (s *Server) ollamaPs(w http.ResponseWriter, r *http.Request) {
	models := []ollamaPsModel{}
	for _, l := range s.rt.Loaded() {
		p := ollamaPsModel{Name: l.Name, Model: l.Name, Size: l.Size, Digest: strings.TrimPrefix(l.Digest, "sha256:"),
			ExpiresAt: l.ExpiresAt, ContextLength: l.Context}
		if p.ExpiresAt.IsZero() {
			p.ExpiresAt = time.Now().Add(24 * 365 * time.Hour)
		}
		if s.cfg.Models != nil {
			if info, err := s.cfg.Models.Show(r.Context(), l.Name); err == nil {
				p.Details = details(info)
			}
		}
		models = append(models, p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": models})
}

// ollamaStart queues the generation both of Ollama's endpoints make from
// their options, keep-alive, logprobs and format. The caller cancels the
// returned function when it stops reading.
func (s *Server) ollamaStart(r *http.Request, m *runtime.Model, opts genOptions, tokens []int32, keepAlive *duration,
	logprobs bool, top int, format json.RawMessage) (<-chan runtime.Event, context.CancelFunc, error) {
	greq := opts.request(tokens, opts.NumCtx)
	greq.KeepAlive = keepAlive.ptr()
	greq.Client = clientKey(r)
	if logprobs {
		greq.Logprobs = max(1, top+1)
	}
	var err error
	if greq.Constraint, err = s.constraint(m, format); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(r.Context())
	events, err := m.Generate(ctx, greq)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return events, cancel, nil
}

// ollamaFail reports a generation that failed: as the answer when nothing
// was streamed, as Ollama's {"error"} line in a stream.
func ollamaFail(w http.ResponseWriter, sw *streamWriter, err error) {
	if sw == nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	sw.ndjson(map[string]string{"error": err.Error()})
}
