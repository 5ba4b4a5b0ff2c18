package chat

import (
	"encoding/json"
	"strings"
	"testing"
)

func BenchmarkCompile(b *testing.B) {
	src, err := readTemplate("llama3.1")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Compile("llama3.1", src, Tokens{}); err != nil {
			b.Fatal(err)
		}
	}
}

// A ten-turn tool conversation with two tools, through Qwen 3's template.
func BenchmarkRender(b *testing.B) {
	src, err := readTemplate("qwen3")
	if err != nil {
		b.Fatal(err)
	}
	tmpl, err := Compile("qwen3", src, Tokens{})
	if err != nil {
		b.Fatal(err)
	}
	tools := []json.RawMessage{probeToolDef, json.RawMessage(`{"type":"function","function":{"name":"get_weather","description":"Weather.","parameters":{"type":"object","properties":{"location":{"type":"string"}}}}}`)}
	msgs := []Message{{Role: "system", Content: Text("You are helpful.")}}
	for i := range 5 {
		msgs = append(msgs, Message{Role: "user", Content: Text(strings.Repeat("question ", 20+i))},
			Message{Role: "assistant", Content: Text(strings.Repeat("answer ", 40))})
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := tmpl.Render(msgs, tools, RenderOptions{AddGenerationPrompt: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStream(b *testing.B) {
	text := "<think>\n" + strings.Repeat("reasoning step, ", 200) + "\n</think>\n\n" + strings.Repeat("answer text ", 200) +
		"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Oslo\"}}\n</tool_call>"
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		s := NewStream(ToolsHermes, true, false)
		for i := 0; i < len(text); i += 4 {
			s.Push(text[i:min(i+4, len(text))])
		}
		if _, calls, err := s.Finish(); err != nil || len(calls) != 1 {
			b.Fatal(calls, err)
		}
	}
}
