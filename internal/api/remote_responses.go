package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// OpenAI's /v1/responses for a remotely served model. A backend whose
// configuration sets "responses" gets the request as it is (see
// Server.remote). Any other gets it translated to its
// /v1/chat/completions, which every OpenAI-compatible server has: the
// input items and instructions become messages, function tools and
// tool_choice take the chat shape, max_output_tokens becomes max_tokens,
// text.format becomes response_format and reasoning.effort
// reasoning_effort; the answer (streamed or not) comes back as a response
// object or as the Responses API's events, exactly as a local model's do.
// What the chat API cannot carry is refused with a 400 naming it:
// previous_response_id (responses are not stored) and tools other than
// functions.

func (s *Server) responsesRemote(w http.ResponseWriter, r *http.Request, b *Backend, remoteModel string) {
	serveOpenAI(w, r, func(w http.ResponseWriter, r *http.Request, req *responsesRequest) error {
		return s.responsesRemoteRun(w, r, req, b, remoteModel)
	})
}

// responsesChatRequest translates a Responses request into a chat
// completions request for remoteModel.
func responsesChatRequest(req *responsesRequest, remoteModel string) (map[string]any, error) {
	if req.PreviousResponseID != "" {
		return nil, badRequest("previous_response_id is not supported: responses are not stored; send the conversation as input")
	}
	msgs, err := responsesInput(req.Input, req.Instructions)
	if err != nil {
		return nil, err
	}
	tools, err := responsesTools(req.Tools)
	if err != nil {
		return nil, err
	}
	oreq := map[string]any{"model": remoteModel, "stream": req.Stream, "messages": chatMessages(msgs)}
	if req.Stream {
		oreq["stream_options"] = map[string]bool{"include_usage": true}
	}
	if len(tools) > 0 {
		oreq["tools"] = tools
	}
	if choice, err := responsesToolChoice(req.ToolChoice, len(tools) > 0); err != nil {
		return nil, err
	} else if choice != nil {
		oreq["tool_choice"] = choice
	}
	if req.MaxOutputTokens != nil {
		if *req.MaxOutputTokens < 1 {
			return nil, badRequest("max_output_tokens %d must be at least 1", *req.MaxOutputTokens)
		}
		oreq["max_tokens"] = *req.MaxOutputTokens
	}
	if req.Temperature != nil {
		oreq["temperature"] = *req.Temperature
	}
	if req.TopP != nil {
		oreq["top_p"] = *req.TopP
	}
	if req.Reasoning != nil && req.Reasoning.Effort != "" {
		oreq["reasoning_effort"] = req.Reasoning.Effort
	}
	if req.Text != nil && req.Text.Format != nil {
		f := req.Text.Format
		switch f.Type {
		case "", "text":
		case "json_object":
			oreq["response_format"] = map[string]string{"type": "json_object"}
		case "json_schema":
			if len(f.Schema) == 0 {
				return nil, badRequest("text.format.schema is required for json_schema")
			}
			js := map[string]any{"name": f.Name, "schema": f.Schema}
			if f.Strict != nil {
				js["strict"] = *f.Strict
			}
			oreq["response_format"] = map[string]any{"type": "json_schema", "json_schema": js}
		default:
			return nil, badRequest("text.format.type: %q is not text, json_object or json_schema", f.Type)
		}
	}
	return oreq, nil
}

// responsesToolChoice converts the Responses API's tool_choice ("none",
// "auto", "required" or {"type": "function", "name": ...}) into the chat
// shape; nil when there is none.
func responsesToolChoice(raw json.RawMessage, haveTools bool) (any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var mode string
	if json.Unmarshal(raw, &mode) == nil {
		switch mode {
		case "none", "auto":
			return mode, nil
		case "required":
			if !haveTools {
				return nil, badRequest("tool_choice: \"required\" needs tools")
			}
			return mode, nil
		}
		return nil, badRequest("tool_choice: %q is not none, auto or required", mode)
	}
	var named struct {
		Type     string `json:"type"`
		Name     string `json:"name"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &named); err != nil {
		return nil, badRequest("tool_choice: %v", err)
	}
	name := named.Name
	if name == "" {
		name = named.Function.Name
	}
	if named.Type != "function" || name == "" {
		return nil, badRequest("tool_choice: want none, auto, required or {\"type\": \"function\", \"name\": ...}")
	}
	return map[string]any{"type": "function", "function": map[string]string{"name": name}}, nil
}

func (s *Server) responsesRemoteRun(w http.ResponseWriter, r *http.Request, req *responsesRequest, b *Backend, remoteModel string) error {
	oreq, err := responsesChatRequest(req, remoteModel)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	resp, status, msg := s.callBackend(ctx, b, "/chat/completions", oreq)
	if resp == nil {
		return &requestError{status, msg}
	}
	defer resp.Body.Close()
	out := newResponse(req)
	finish := func(a *backendAnswer) []responseItem {
		out.Status = "completed"
		if a.doneReason == "length" {
			out.Status = "incomplete"
			out.IncompleteDetails = map[string]string{"reason": "max_output_tokens"}
		}
		if u := a.usage; u != nil {
			cached := 0
			if u.PromptDetails != nil {
				cached = u.PromptDetails.CachedTokens
			}
			out.Usage = responsesUsage(u.PromptTokens, cached, u.CompletionTokens)
		}
		var items []responseItem
		for _, c := range a.calls {
			args := c.Function.Arguments
			items = append(items, responseItem{Type: "function_call", ID: newID("fc_"), Status: "completed",
				CallID: callID(toolCall{ID: c.ID}), Name: c.Function.Name, Arguments: &args})
		}
		return items
	}
	if !req.Stream {
		a, err := relayBackend(resp.Body, false, nil)
		if err != nil {
			return &requestError{http.StatusBadGateway, fmt.Sprintf("remote backend %q: %v", b.Name, err)}
		}
		calls := finish(&a)
		if a.text != "" || len(calls) == 0 {
			out.Output = append(out.Output, messageItem(newID("msg_"), a.text))
		}
		out.Output = append(out.Output, calls...)
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	ev := &responsesEvents{sw: s.newStream(w, "text/event-stream"), cancel: cancel, resp: &out, msgID: newID("msg_")}
	ev.begin()
	a, err := relayBackend(resp.Body, true, func(text, _ string) error {
		if text != "" {
			ev.delta(text)
		}
		return ctx.Err()
	})
	if err != nil {
		ev.fail(fmt.Sprintf("remote backend %q: %v", b.Name, err))
		return nil
	}
	calls := finish(&a)
	ev.end(a.text != "" || len(calls) == 0, calls)
	return nil
}
