package chat

import (
	"encoding/json"
	"strings"
	"testing"
)

// What a template renders for an assistant's tool call is what the model
// was trained to write; parsing it back with the template's format must
// give the call again.
func TestToolCallRoundTrip(t *testing.T) {
	stops := []string{"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "</s>", "<｜end▁of▁sentence｜>", "<|end|>"}
	for _, name := range []string{"llama3.1", "llama3.2", "qwen2.5", "qwen3", "mistral-v0.3", "mistral-nemo", "deepseek-r1-distill", "deepseek-v3.1", "qwq", "hermes3-tool-use", "phi4-mini-llamacpp"} {
		tmpl := compileFile(t, name)
		user := Message{Role: "user", Content: Text("Weather in Zürich?")}
		args := `{"location":"Zürich","days":[1,2],"detail":{"wind":true}}`
		assistant := Message{Role: "assistant", ToolCalls: []ToolCall{{ID: "call12345", Type: "function",
			Function: FunctionCall{Name: "get_weather", Arguments: json.RawMessage(args)}}}}
		tools := []json.RawMessage{json.RawMessage(`{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}`)}
		off := false
		prompt, err := tmpl.Render([]Message{user}, tools, RenderOptions{AddGenerationPrompt: true, EnableThinking: &off})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		full, err := tmpl.Render([]Message{user, assistant}, tools, RenderOptions{EnableThinking: &off})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		i := 0
		for i < len(prompt) && i < len(full) && prompt[i] == full[i] {
			i++
		}
		// Back up to the start of a special token the prefix ends inside
		// (R1's prompt ends with <think>, its call output with <｜tool...).
		if lt := strings.LastIndexByte(full[:i], '<'); lt > strings.LastIndexByte(full[:i], '>') {
			i = lt
		}
		output := strings.TrimSpace(full[i:])
		for _, s := range stops {
			output = strings.TrimSpace(strings.TrimSuffix(output, s))
		}
		content, calls, err := ParseToolCalls(tmpl.ToolFormat(), output)
		if err != nil || content != "" || len(calls) != 1 || calls[0].Name != "get_weather" || string(calls[0].Arguments) != args {
			t.Errorf("%s (%v): output %q parsed to %q, %s, %v", name, tmpl.ToolFormat(), output, content, showCalls(calls), err)
		}
	}
}
