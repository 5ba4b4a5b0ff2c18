package chat

import (
	"encoding/json"
	"strings"
	"time"
)

// Probe inputs: a tool named so that it cannot appear in a template by
// chance, and a call ID of the nine characters Mistral's templates demand.
const (
	probeTool = "probe_tool_7f3a"
	probeArg  = "probe_arg_7f3a"
)

var (
	probeToolDef = json.RawMessage(`{"type": "function", "function": {"name": "` + probeTool +
		`", "description": "probe", "parameters": {"type": "object", "properties": {"` + probeArg +
		`": {"type": "string"}}, "required": ["` + probeArg + `"]}}}`)
	probeCall = ToolCall{ID: "call00001", Type: "function", Function: FunctionCall{
		Name: probeTool, Arguments: json.RawMessage(`{"` + probeArg + `": "probe_value"}`)}}
	probeNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
)

// probe renders small conversations once at compile time to learn what the
// template does, as llama.cpp's minja does: whether it shows tools, whether
// it takes tool-call arguments as an object or as text, whether it fails on
// a none content, and whether it thinks.
func (t *Template) probe(source string) {
	user := Message{Role: "user", Content: Text("probe question")}
	call := func(content *string) []Message {
		return []Message{user, {Role: "assistant", Content: content, ToolCalls: []ToolCall{probeCall}}}
	}
	tools := []json.RawMessage{probeToolDef}
	opts := RenderOptions{Now: probeNow}

	// Arguments: an object shows up in JSON form ("probe_value" in double
	// quotes) when the template encodes it; a template that concatenates it
	// as text prints it otherwise or fails, and works with the JSON text.
	// The tool definitions are left out so that only the call can match.
	objOut, objErr := t.Render(call(Text("")), nil, opts)
	if objErr != nil || !strings.Contains(objOut, `"probe_value"`) {
		t.stringArguments = true
		strOut, strErr := t.Render(call(Text("")), nil, opts)
		if strErr != nil || !strings.Contains(strOut, `"probe_value"`) {
			t.stringArguments = false // neither form shows: keep objects
		}
	}

	// A none content beside tool calls: some templates refuse it (Gemma 3:
	// "Invalid content type"; QwQ splits it when a tool result follows)
	// and render "" fine.
	result := Message{Role: "tool", Content: Text("probe result"), ToolCallID: probeCall.ID}
	for _, conv := range []func(*string) []Message{
		call,
		func(c *string) []Message { return append(call(c), result) },
	} {
		if _, err := t.Render(conv(nil), tools, opts); err != nil {
			if _, err := t.Render(conv(Text("")), tools, opts); err == nil {
				t.nullContentAsEmpty = true
			}
		}
	}

	if out, err := t.Render([]Message{user}, tools, RenderOptions{Now: probeNow, AddGenerationPrompt: true}); err == nil {
		t.caps.Tools = strings.Contains(out, probeTool)
	}
	on, off := true, false
	withOn, errOn := t.Render([]Message{user}, nil, RenderOptions{Now: probeNow, AddGenerationPrompt: true, EnableThinking: &on})
	withOff, errOff := t.Render([]Message{user}, nil, RenderOptions{Now: probeNow, AddGenerationPrompt: true, EnableThinking: &off})
	t.caps.ThinkingToggle = errOn == nil && errOff == nil && withOn != withOff
	t.caps.Thinking = t.caps.ThinkingToggle || strings.Contains(source, "<think>") ||
		strings.Contains(source, "reasoning_content")
	t.format = DetectToolFormat(source, t.caps.Tools)
}
