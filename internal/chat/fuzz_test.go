package chat

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

const numFormats = int(ToolsPhi4) + 1

func noSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

func FuzzParseToolCalls(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(uint8(tc.format), tc.text, uint8(3))
	}
	f.Add(uint8(ToolsHermes), "<tool_call><tool_call>", uint8(1))
	f.Add(uint8(ToolsDeepSeek), "<｜tool▁calls▁begin｜><｜tool▁calls▁end｜>", uint8(2))
	f.Add(uint8(ToolsMistral), "[TOOL_CALLS][TOOL_CALLS]", uint8(5))
	f.Fuzz(func(t *testing.T, fb uint8, text string, piece uint8) {
		format := ToolFormat(int(fb) % numFormats)
		content, calls, err := ParseToolCalls(format, text)
		if err != nil {
			if content != text || calls != nil {
				t.Fatalf("error %v, but content %q calls %v", err, content, calls)
			}
		}
		for _, c := range calls {
			var obj map[string]any
			if c.Name == "" || json.Unmarshal(c.Arguments, &obj) != nil || obj == nil {
				t.Fatalf("bad call %+v from %q", c, text)
			}
		}
		// Streaming in pieces gives the same calls and the same content
		// (up to the whitespace around calls).
		n := int(piece%16) + 1
		_, scontent, scalls, serr := streamAll(format, false, false, text, n)
		if (serr == nil) != (err == nil) && format != ToolsLlama3 && format != ToolsJSON {
			t.Fatalf("stream error %v, whole error %v, for %q", serr, err, text)
		}
		if err == nil && serr == nil {
			if !sameCalls(scalls, calls) {
				t.Fatalf("stream calls %s, whole %s, for %q", showCalls(scalls), showCalls(calls), text)
			}
			if noSpace(scontent) != noSpace(content) {
				t.Fatalf("stream content %q, whole %q, for %q", scontent, content, text)
			}
		}
	})
}

func FuzzSplitThinking(f *testing.F) {
	f.Add("<think>a</think>b", false, uint8(1))
	f.Add("a</think>\n\nb", true, uint8(2))
	f.Add("<thi", false, uint8(1))
	f.Add("  <think>\n\n</think>\n\n", false, uint8(4))
	f.Fuzz(func(t *testing.T, text string, opened bool, piece uint8) {
		think, content := SplitThinking(text, opened)
		if len(think)+len(content) > len(text) {
			t.Fatalf("split grew the text: %q -> %q %q", text, think, content)
		}
		sthink, scontent, _, err := streamAll(ToolsNone, true, opened, text, int(piece%16)+1)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(sthink) != think || noSpace(scontent) != noSpace(content) {
			t.Fatalf("stream %q %q, whole %q %q, for %q", sthink, scontent, think, content, text)
		}
	})
}

func FuzzRenameTojson(f *testing.F) {
	f.Add(`{{ x | tojson }}{% set a = "|tojson" %}{# |tojson #}{% raw %}|tojson{% endraw %}`)
	f.Add(`{{ '\'' | tojson(indent=2) }}`)
	f.Add(`{{`)
	f.Fuzz(func(t *testing.T, src string) {
		if strings.Contains(src, tojsonFilter) {
			return
		}
		out := renameTojson(src)
		if back := strings.ReplaceAll(out, tojsonFilter, "tojson"); back != src {
			t.Fatalf("renaming changed more than the filter name: %q -> %q", src, out)
		}
	})
}

func FuzzJSONValue(f *testing.F) {
	f.Add([]byte(`{"b": [1, 2.5, "x", null, true], "a": {"c": -0.0, "d": 1e400}}`))
	f.Add([]byte(`"\u00e9\ud83d\ude00\n"`))
	f.Add([]byte(`[[[[]]]]`))
	f.Add([]byte(`{"a": 1} x`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := jsonValue(data)
		if !json.Valid(data) {
			if err == nil {
				t.Fatalf("invalid JSON %q accepted", data)
			}
			return
		}
		if err != nil {
			if strings.Contains(err.Error(), "nested deeper") || strings.Contains(err.Error(), "out of range") {
				return
			}
			t.Fatalf("valid JSON %q refused: %v", data, err)
		}
		out, err := pyJSON{itemSep: ", ", keySep: ": "}.dumps(v)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid([]byte(out)) && strings.Contains(out, "Infinity") {
			return // 1e400: Python's json.dumps prints Infinity too
		}
		var a, b any
		if json.Unmarshal(data, &a) != nil || json.Unmarshal([]byte(out), &b) != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip changed the value: %q -> %q", data, out)
		}
	})
}

// Messages come from clients: whatever they hold, rendering a real template
// returns a prompt or an error, never a panic.
func FuzzRenderMessages(f *testing.F) {
	f.Add("hello", `{"a": 1}`, "<think>x</think>y")
	f.Add("{{ x }}{% raw %}", `"{\"k\": [null]}"`, "")
	f.Add("", `[`, "</think>")
	src, err := readTemplate("qwen3")
	if err != nil {
		f.Fatal(err)
	}
	tmpl, err := Compile("qwen3", src, Tokens{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, content, args, thinking string) {
		msgs := []Message{
			{Role: "user", Content: Text(content)},
			{Role: "assistant", Content: Text(thinking), Thinking: thinking, ToolCalls: []ToolCall{{Function: FunctionCall{Name: content, Arguments: json.RawMessage(args)}}}},
			{Role: "tool", Content: Text(content)},
		}
		out, err := tmpl.Render(msgs, nil, RenderOptions{AddGenerationPrompt: true})
		if err == nil && !strings.Contains(out, content) {
			t.Fatalf("content %q missing from the prompt", content)
		}
	})
}

// Any source lexes without panicking, and text without tags renders as
// itself (after jinja2's newline normalization).
func FuzzJinjaSource(f *testing.F) {
	f.Add("plain \"text\" \\ with\r\nlines\n")
	f.Add("A {{ 1 }}{%- if true %}B{% endif %}{# c #}{% raw %}{{{% endraw %}")
	f.Add("{{ {'a': {'b': '}}'}} }}{%+ if x +%}\n{%- endif -%}")
	f.Fuzz(func(t *testing.T, src string) {
		out, err := jinjaSource(src)
		if err != nil || strings.Contains(src, "{") {
			return
		}
		tmpl, err := compileSafely(out)
		if err != nil {
			t.Fatalf("text-only source %q did not compile: %v", src, err)
		}
		got, err := tmpl.RenderValues(nil)
		want := strings.TrimSuffix(strings.ReplaceAll(strings.ReplaceAll(src, "\r\n", "\n"), "\r", "\n"), "\n")
		if err != nil || got != want {
			t.Fatalf("text %q rendered as %q (%v)", want, got, err)
		}
	})
}

// A template comes from a downloaded model file: whatever it holds,
// compiling and rendering it returns a result or an error, never a panic.
func FuzzTemplate(f *testing.F) {
	for _, name := range []string{"qwen3", "gemma3", "mistral-v0.3", "deepseek-v3.1", "features"} {
		src, err := readTemplate(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add("{{ messages[0].content.split('x')[-1] | tojson(indent=2) }}{{ raise_exception('no') }}")
	msgs := []Message{{Role: "system", Content: Text("s")}, {Role: "user", Content: Text("u")},
		{Role: "assistant", ToolCalls: []ToolCall{{ID: "call00001", Function: FunctionCall{Name: "f", Arguments: json.RawMessage(`{"a":1}`)}}}},
		{Role: "tool", Content: Text("r"), ToolCallID: "call00001"}}
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 1<<14 || strings.Contains(src, "range") || strings.Contains(src, "*") {
			return // nested loops and repetition can ask for unbounded work
		}
		tmpl, err := Compile("fuzz", src, Tokens{BOS: "<s>", EOS: "</s>"})
		if err != nil {
			return
		}
		_, _ = tmpl.Render(msgs, []json.RawMessage{probeToolDef}, RenderOptions{AddGenerationPrompt: true})
	})
}
