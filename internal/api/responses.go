package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/raym33/ainative/internal/runtime"
)

// OpenAI's Responses API (/v1/responses): text, streaming events and
// function tools. Responses are not stored, so previous_response_id is
// refused; clients that keep their own history (sending the whole input
// each turn) work.

type responsesRequest struct {
	Model           string            `json:"model"`
	Input           json.RawMessage   `json:"input"`
	Instructions    string            `json:"instructions"`
	Tools           []json.RawMessage `json:"tools"`
	ToolChoice      json.RawMessage   `json:"tool_choice"`
	Stream          bool              `json:"stream"`
	MaxOutputTokens *int              `json:"max_output_tokens"`
	Temperature     *float64          `json:"temperature"`
	TopP            *float64          `json:"top_p"`
	Text            *struct {
		Format *struct {
			Type   string          `json:"type"`
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict *bool           `json:"strict"`
		} `json:"format"`
	} `json:"text"`
	PreviousResponseID string `json:"previous_response_id"`
	Reasoning          *struct {
		Effort string `json:"effort"`
	} `json:"reasoning"`
	Store    *bool          `json:"store"`
	Metadata map[string]any `json:"metadata"`
	User     string         `json:"user"`
}

type responseItem struct {
	Type    string            `json:"type"`
	ID      string            `json:"id,omitempty"`
	Status  string            `json:"status,omitempty"`
	Role    string            `json:"role,omitempty"`
	Content []responseContent `json:"content,omitempty"`
	CallID  string            `json:"call_id,omitempty"`
	Name    string            `json:"name,omitempty"`
	// Arguments is always present on a function call, even when empty.
	Arguments *string `json:"arguments,omitempty"`
}

type responseContent struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
}

type responseObject struct {
	ID                 string         `json:"id"`
	Object             string         `json:"object"`
	CreatedAt          int64          `json:"created_at"`
	Status             string         `json:"status"`
	Error              any            `json:"error"`
	IncompleteDetails  any            `json:"incomplete_details"`
	Instructions       any            `json:"instructions"`
	MaxOutputTokens    *int           `json:"max_output_tokens"`
	Model              string         `json:"model"`
	Output             []responseItem `json:"output"`
	ParallelToolCalls  bool           `json:"parallel_tool_calls"`
	PreviousResponseID any            `json:"previous_response_id"`
	Store              bool           `json:"store"`
	Temperature        *float64       `json:"temperature"`
	TopP               *float64       `json:"top_p"`
	ToolChoice         any            `json:"tool_choice"`
	Tools              []any          `json:"tools"`
	Truncation         string         `json:"truncation"`
	Usage              any            `json:"usage"`
	Metadata           map[string]any `json:"metadata"`
	Text               any            `json:"text"`
}

// responsesInput converts the input (a string or a list of items) into
// chat messages.
func responsesInput(raw json.RawMessage, instructions string) ([]ollamaMessage, error) {
	var msgs []ollamaMessage
	if instructions != "" {
		msgs = append(msgs, ollamaMessage{Role: "system", Content: instructions})
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil, badRequest("input is required")
	}
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		return append(msgs, ollamaMessage{Role: "user", Content: text}), nil
	}
	var items []struct {
		Type      string          `json:"type"`
		Role      string          `json:"role"`
		Content   json.RawMessage `json:"content"`
		CallID    string          `json:"call_id"`
		Name      string          `json:"name"`
		Arguments string          `json:"arguments"`
		Output    json.RawMessage `json:"output"`
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, badRequest("input: want a string or an array of input items")
	}
	for i, it := range items {
		where := fmt.Sprintf("input[%d]", i)
		switch it.Type {
		case "", "message":
			content, err := contentText(it.Content, where)
			if err != nil {
				return nil, err
			}
			role := it.Role
			switch role {
			case "user", "assistant", "system":
			case "developer":
				role = "system"
			default:
				return nil, badRequest("%s.role: %q is not user, assistant, system or developer", where, it.Role)
			}
			msgs = append(msgs, ollamaMessage{Role: role, Content: content})
		case "function_call":
			args := json.RawMessage(it.Arguments)
			if !json.Valid(args) {
				return nil, badRequest("%s.arguments: not valid JSON", where)
			}
			call := ollamaToolCall{ID: it.CallID, Function: ollamaToolFunction{Name: it.Name, Arguments: args}}
			// Consecutive calls belong to one assistant turn.
			if n := len(msgs); n > 0 && msgs[n-1].Role == "assistant" && msgs[n-1].Content == "" && len(msgs[n-1].ToolCalls) > 0 {
				call.Function.Index = len(msgs[n-1].ToolCalls)
				msgs[n-1].ToolCalls = append(msgs[n-1].ToolCalls, call)
			} else {
				msgs = append(msgs, ollamaMessage{Role: "assistant", ToolCalls: []ollamaToolCall{call}})
			}
		case "function_call_output":
			out, err := contentText(it.Output, where)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, ollamaMessage{Role: "tool", Content: out, ToolCallID: it.CallID, ToolName: callName(msgs, it.CallID)})
		case "reasoning":
			// Earlier reasoning is not shown to the model again.
		default:
			return nil, badRequest("%s.type: %q is not supported (message, function_call, function_call_output)", where, it.Type)
		}
	}
	return msgs, nil
}

func callName(msgs []ollamaMessage, id string) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		for _, c := range msgs[i].ToolCalls {
			if c.ID == id {
				return c.Function.Name
			}
		}
	}
	return ""
}

// responsesTools converts the Responses API's flat function tools into the
// Chat Completions shape that templates expect, keeping the parameters'
// bytes (and so their key order) as sent.
func responsesTools(raw []json.RawMessage) ([]json.RawMessage, error) {
	var out []json.RawMessage
	for i, t := range raw {
		var tool struct {
			Type        string          `json:"type"`
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		}
		if err := json.Unmarshal(t, &tool); err != nil {
			return nil, badRequest("tools[%d]: %v", i, err)
		}
		if tool.Type != "function" {
			return nil, badRequest("tools[%d].type: %q is not supported (function only)", i, tool.Type)
		}
		if tool.Name == "" {
			return nil, badRequest("tools[%d].name is required", i)
		}
		var b bytes.Buffer
		b.WriteString(`{"type":"function","function":{"name":`)
		name, _ := json.Marshal(tool.Name)
		b.Write(name)
		if tool.Description != "" {
			d, _ := json.Marshal(tool.Description)
			b.WriteString(`,"description":`)
			b.Write(d)
		}
		if len(tool.Parameters) > 0 {
			b.WriteString(`,"parameters":`)
			b.Write(tool.Parameters)
		}
		b.WriteString(`}}`)
		out = append(out, b.Bytes())
	}
	return out, nil
}

func (s *Server) openaiResponses(w http.ResponseWriter, r *http.Request) {
	serveOpenAI(w, r, s.responsesRun)
}

func (s *Server) responsesRun(w http.ResponseWriter, r *http.Request, req *responsesRequest) error {
	if req.Model == "" {
		return badRequest("model is required")
	}
	if req.PreviousResponseID != "" {
		return badRequest("previous_response_id is not supported: responses are not stored; send the conversation as input")
	}
	msgs, err := responsesInput(req.Input, req.Instructions)
	if err != nil {
		return err
	}
	tools, err := responsesTools(req.Tools)
	if err != nil {
		return err
	}
	tools, forced, err := openaiTools(tools, req.ToolChoice)
	if err != nil {
		return err
	}
	opts, err := openaiOptions(req.Temperature, req.TopP, nil, nil, nil, req.MaxOutputTokens, nil)
	if err != nil {
		return err
	}
	var format json.RawMessage
	if req.Text != nil && req.Text.Format != nil {
		rf := &openaiResponseFormat{Type: req.Text.Format.Type}
		if rf.Type == "json_schema" {
			rf.JSONSchema = &struct {
				Name   string          `json:"name"`
				Schema json.RawMessage `json:"schema"`
				Strict *bool           `json:"strict"`
			}{req.Text.Format.Name, req.Text.Format.Schema, req.Text.Format.Strict}
		}
		if format, err = openaiFormat(rf); err != nil {
			return err
		}
	}
	var think *bool
	if req.Reasoning != nil && req.Reasoning.Effort != "" {
		think = ptr(req.Reasoning.Effort != "none")
	}
	m, err := s.acquire(r.Context(), req.Model)
	if err != nil {
		return err
	}
	defer m.Release(nil)
	text, err := s.renderChat(m, msgs, tools, think, "")
	if err != nil {
		return err
	}
	greq := opts.request(s.tokenize(m, text, true), opts.NumCtx)
	greq.Client = clientKey(r)
	if forced != nil {
		greq.Constraint, err = s.toolConstraint(m, forced)
	} else {
		greq.Constraint, err = s.constraint(m, format)
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	events, err := m.Generate(ctx, greq)
	if err != nil {
		return err
	}
	resp := newResponse(req)
	out := newOutputParser(m, tools, think != nil && *think || forced != nil, text)

	finish := func(res result) {
		if forced != nil {
			res.calls = forcedCalls(forced, res)
			res.content = ""
		}
		resp.Status = "completed"
		if res.reason == runtime.StopLength {
			resp.Status = "incomplete"
			resp.IncompleteDetails = map[string]string{"reason": "max_output_tokens"}
		}
		resp.Usage = responsesUsage(res.stats.PromptTokens, res.stats.CachedTokens, res.stats.EvalTokens)
	}

	if !req.Stream {
		res := collect(events, out)
		if res.err != nil {
			return res.err
		}
		finish(res)
		if res.content != "" || len(res.calls) == 0 {
			resp.Output = append(resp.Output, messageItem(newID("msg_"), res.content))
		}
		for _, c := range res.calls {
			resp.Output = append(resp.Output, callItem(c))
		}
		writeJSON(w, http.StatusOK, resp)
		return nil
	}

	ev := &responsesEvents{sw: s.newStream(w, "text/event-stream"), cancel: cancel, resp: &resp, msgID: newID("msg_")}
	ev.begin()
	var all result
	for e := range events {
		c, th, tc := out.next(e)
		all.content += c
		all.thinking += th
		all.calls = append(all.calls, tc...)
		if e.Done {
			all.reason, all.stats, all.err = e.Reason, e.Stats, e.Err
			if e.Reason == runtime.StopCanceled {
				all.err = nil
			}
		}
		if forced == nil && c != "" {
			ev.delta(c)
		}
	}
	if all.err != nil {
		ev.fail(all.err.Error())
		return nil
	}
	finish(all)
	calls := all.calls
	if forced != nil {
		calls = forcedCalls(forced, all)
	}
	var items []responseItem
	for _, c := range calls {
		items = append(items, callItem(c))
	}
	ev.end(forced == nil && (ev.text.Len() > 0 || len(all.calls) == 0), items)
	return nil
}

// responsesEvents writes a streamed response's events in the order the
// Responses API defines: created, in_progress, one assistant message
// (opened by its first text), then each function call, then completed
// (or failed). The local runtime and remote backends share it.
type responsesEvents struct {
	sw      *streamWriter
	cancel  func() // called when the client is gone, to stop generating
	resp    *responseObject
	seq     int
	msgID   string
	msgOpen bool
	text    strings.Builder
}

func (e *responsesEvents) emit(typ string, fields map[string]any) {
	fields["type"] = typ
	fields["sequence_number"] = e.seq
	e.seq++
	if err := e.sw.sse(typ, fields); err != nil {
		e.cancel()
	}
}

func (e *responsesEvents) begin() {
	e.emit("response.created", map[string]any{"response": *e.resp})
	e.emit("response.in_progress", map[string]any{"response": *e.resp})
}

func (e *responsesEvents) openMessage() {
	if e.msgOpen {
		return
	}
	e.msgOpen = true
	item := responseItem{Type: "message", ID: e.msgID, Status: "in_progress", Role: "assistant", Content: []responseContent{}}
	e.emit("response.output_item.added", map[string]any{"output_index": 0, "item": item})
	e.emit("response.content_part.added", map[string]any{"item_id": e.msgID, "output_index": 0, "content_index": 0,
		"part": responseContent{Type: "output_text", Text: "", Annotations: []any{}}})
}

// delta streams a piece of the message's text.
func (e *responsesEvents) delta(text string) {
	e.openMessage()
	e.text.WriteString(text)
	e.emit("response.output_text.delta", map[string]any{"item_id": e.msgID, "output_index": 0, "content_index": 0, "delta": text, "logprobs": []any{}})
}

// fail ends the stream with response.failed.
func (e *responsesEvents) fail(msg string) {
	e.resp.Status = "failed"
	e.resp.Error = map[string]string{"code": "server_error", "message": msg}
	e.emit("response.failed", map[string]any{"response": *e.resp})
}

// end closes the message when withMessage is set, emits each call and
// response.completed; the response's status and usage are set by then.
func (e *responsesEvents) end(withMessage bool, calls []responseItem) {
	if withMessage {
		e.openMessage()
		text := e.text.String()
		e.emit("response.output_text.done", map[string]any{"item_id": e.msgID, "output_index": 0, "content_index": 0, "text": text, "logprobs": []any{}})
		part := responseContent{Type: "output_text", Text: text, Annotations: []any{}}
		e.emit("response.content_part.done", map[string]any{"item_id": e.msgID, "output_index": 0, "content_index": 0, "part": part})
		item := messageItem(e.msgID, text)
		e.emit("response.output_item.done", map[string]any{"output_index": 0, "item": item})
		e.resp.Output = append(e.resp.Output, item)
	}
	for _, item := range calls {
		idx := len(e.resp.Output)
		started := item
		started.Status, started.Arguments = "in_progress", ptr("")
		e.emit("response.output_item.added", map[string]any{"output_index": idx, "item": started})
		e.emit("response.function_call_arguments.delta", map[string]any{"item_id": item.ID, "output_index": idx, "delta": *item.Arguments})
		e.emit("response.function_call_arguments.done", map[string]any{"item_id": item.ID, "output_index": idx, "name": item.Name, "arguments": *item.Arguments})
		e.emit("response.output_item.done", map[string]any{"output_index": idx, "item": item})
		e.resp.Output = append(e.resp.Output, item)
	}
	e.emit("response.completed", map[string]any{"response": *e.resp})
}

// newResponse is the response object of req, in progress, with no output.
func newResponse(req *responsesRequest) responseObject {
	resp := responseObject{ID: newID("resp_"), Object: "response", CreatedAt: time.Now().Unix(), Status: "in_progress",
		Instructions: nilIfEmpty(req.Instructions), MaxOutputTokens: req.MaxOutputTokens, Model: req.Model,
		Output: []responseItem{}, ParallelToolCalls: true, Temperature: req.Temperature, TopP: req.TopP,
		ToolChoice: "auto", Tools: []any{}, Truncation: "disabled", Metadata: req.Metadata,
		Text: map[string]any{"format": map[string]any{"type": "text"}}}
	if resp.Metadata == nil {
		resp.Metadata = map[string]any{}
	}
	for _, t := range req.Tools {
		var v any
		json.Unmarshal(t, &v)
		resp.Tools = append(resp.Tools, v)
	}
	return resp
}

func responsesUsage(input, cached, output int) map[string]any {
	return map[string]any{
		"input_tokens": input, "input_tokens_details": map[string]int{"cached_tokens": cached},
		"output_tokens": output, "output_tokens_details": map[string]int{"reasoning_tokens": 0},
		"total_tokens": input + output,
	}
}

func messageItem(id, text string) responseItem {
	return responseItem{Type: "message", ID: id, Status: "completed", Role: "assistant",
		Content: []responseContent{{Type: "output_text", Text: text, Annotations: []any{}}}}
}

func callItem(c toolCall) responseItem {
	args := string(c.Arguments)
	return responseItem{Type: "function_call", ID: newID("fc_"), Status: "completed", CallID: callID(c), Name: c.Name, Arguments: &args}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
