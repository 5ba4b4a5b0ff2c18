package chat

import (
	"encoding/json"
	"strings"
	"testing"
)

type parseCase struct {
	name    string
	format  ToolFormat
	text    string
	content string
	calls   []ParsedCall
	wantErr bool
}

func call(name, args string) ParsedCall {
	return ParsedCall{Name: name, Arguments: json.RawMessage(args)}
}

var parseCases = []parseCase{
	{name: "hermes one", format: ToolsHermes,
		text:  "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Zürich\", \"unit\": \"celsius\"}}\n</tool_call>",
		calls: []ParsedCall{call("get_weather", `{"location":"Zürich","unit":"celsius"}`)}},
	{name: "hermes content and two calls", format: ToolsHermes,
		text:    "Let me check.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {\"x\": [1, 2]}}\n</tool_call>",
		content: "Let me check.",
		calls:   []ParsedCall{call("a", `{}`), call("b", `{"x":[1,2]}`)}},
	{name: "hermes unclosed at end of turn", format: ToolsHermes,
		text:  "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"k\": \"v\"}}",
		calls: []ParsedCall{call("a", `{"k":"v"}`)}},
	{name: "hermes string arguments", format: ToolsHermes,
		text:  `<tool_call>{"name": "a", "arguments": "{\"k\": 1}"}</tool_call>`,
		calls: []ParsedCall{call("a", `{"k":1}`)}},
	{name: "hermes plain answer", format: ToolsHermes, text: "No tools needed.", content: "No tools needed."},
	{name: "hermes broken JSON", format: ToolsHermes, text: "<tool_call>{\"name\": \"a\", </tool_call>", wantErr: true},
	{name: "hermes no name", format: ToolsHermes, text: "<tool_call>{\"arguments\": {}}</tool_call>", wantErr: true},
	{name: "hermes arguments not an object", format: ToolsHermes, text: "<tool_call>{\"name\": \"a\", \"arguments\": 3}</tool_call>", wantErr: true},
	{name: "llama3 parameters", format: ToolsLlama3,
		text:  `{"name": "get_weather", "parameters": {"location": "Oslo"}}`,
		calls: []ParsedCall{call("get_weather", `{"location":"Oslo"}`)}},
	{name: "llama3 python tag, two calls", format: ToolsLlama3,
		text:  `<|python_tag|>{"name": "a", "parameters": {"x": 1}}; {"name": "b", "arguments": {"y": 2}}`,
		calls: []ParsedCall{call("a", `{"x":1}`), call("b", `{"y":2}`)}},
	{name: "llama3 answer starting with a brace", format: ToolsLlama3,
		text: `{curly} is a word`, content: `{curly} is a word`},
	{name: "llama3 plain", format: ToolsLlama3, text: "It is sunny.", content: "It is sunny."},
	{name: "mistral v0.3", format: ToolsMistral,
		text:  `[TOOL_CALLS] [{"name": "get_weather", "arguments": {"location": "Rome"}, "id": "callRome1"}, {"name": "get_weather", "arguments": {"location": "Lima"}, "id": "callLima2"}]`,
		calls: []ParsedCall{{ID: "callRome1", Name: "get_weather", Arguments: json.RawMessage(`{"location":"Rome"}`)}, {ID: "callLima2", Name: "get_weather", Arguments: json.RawMessage(`{"location":"Lima"}`)}}},
	{name: "mistral nemo", format: ToolsMistral,
		text:  `[TOOL_CALLS][{"name": "f", "arguments": {}}]`,
		calls: []ParsedCall{call("f", `{}`)}},
	{name: "mistral name[ARGS]", format: ToolsMistral,
		text:  `[TOOL_CALLS]get_weather[ARGS]{"location": "Paris"}[TOOL_CALLS]get_time[CALL_ID]abc123XYZ[ARGS]{}`,
		calls: []ParsedCall{call("get_weather", `{"location":"Paris"}`), {ID: "abc123XYZ", Name: "get_time", Arguments: json.RawMessage(`{}`)}}},
	{name: "mistral missing ARGS", format: ToolsMistral, text: `[TOOL_CALLS]get_weather{"a":1}`, wantErr: true},
	{name: "deepseek r1", format: ToolsDeepSeek,
		text:  "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"location\": \"Zürich\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
		calls: []ParsedCall{call("get_weather", `{"location":"Zürich"}`), call("get_time", `{}`)}},
	{name: "deepseek v3.1 with content", format: ToolsDeepSeek,
		text:    "Checking.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"location\": \"Oslo\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
		content: "Checking.",
		calls:   []ParsedCall{call("get_weather", `{"location":"Oslo"}`)}},
	{name: "deepseek without separator", format: ToolsDeepSeek, text: "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather{}<｜tool▁call▁end｜>", wantErr: true},
	{name: "phi4", format: ToolsPhi4,
		text:  `<|tool_call|>[{"name": "f", "arguments": {"q": "x"}}]<|/tool_call|>`,
		calls: []ParsedCall{call("f", `{"q":"x"}`)}},
	{name: "json fenced array", format: ToolsJSON,
		text:  "```json\n[{\"name\": \"f\", \"arguments\": {\"a\": 1}}, {\"type\": \"function\", \"function\": {\"name\": \"g\", \"arguments\": \"{}\"}}]\n```",
		calls: []ParsedCall{call("f", `{"a":1}`), call("g", `{}`)}},
	{name: "json content", format: ToolsJSON, text: "[1, 2] are numbers", content: "[1, 2] are numbers"},
	{name: "none", format: ToolsNone, text: "<tool_call>{}</tool_call>", content: "<tool_call>{}</tool_call>"},
}

func TestParseToolCalls(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			content, calls, err := ParseToolCalls(tc.format, tc.text)
			if tc.wantErr {
				if err == nil || content != tc.text || calls != nil {
					t.Fatalf("want an error and the text back as content; got %q, %v, %v", content, calls, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if content != tc.content {
				t.Errorf("content %q, want %q", content, tc.content)
			}
			if !sameCalls(calls, tc.calls) {
				t.Errorf("calls %s, want %s", showCalls(calls), showCalls(tc.calls))
			}
		})
	}
}

func sameCalls(a, b []ParsedCall) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Name != b[i].Name || string(a[i].Arguments) != string(b[i].Arguments) {
			return false
		}
	}
	return true
}

func showCalls(cs []ParsedCall) string {
	var sb strings.Builder
	for _, c := range cs {
		sb.WriteString(c.ID + ":" + c.Name + string(c.Arguments) + " ")
	}
	return sb.String()
}

func TestDetectToolFormat(t *testing.T) {
	for src, want := range map[string]ToolFormat{
		"<tool_call>":                        ToolsHermes,
		"[TOOL_CALLS]":                       ToolsMistral,
		"<｜tool▁call▁begin｜>":                ToolsDeepSeek,
		"<|tool_call|>":                      ToolsPhi4,
		`<|start_header_id|> "parameters": `: ToolsLlama3,
		"{{ tools }}":                        ToolsJSON,
	} {
		if got := DetectToolFormat(src, true); got != want {
			t.Errorf("%q: %v, want %v", src, got, want)
		}
	}
	if got := DetectToolFormat("plain", false); got != ToolsNone {
		t.Errorf("plain: %v", got)
	}
}

func TestSplitThinking(t *testing.T) {
	for _, tc := range []struct {
		text      string
		opened    bool
		think, ct string
	}{
		{"<think>\nLet me see.\n</think>\n\nYes.", false, "Let me see.", "Yes."},
		{"  <think>a</think>b", false, "a", "b"},
		{"Yes.", false, "", "Yes."},
		{"Okay, 17 has no divisors.\n</think>\n\n17 is prime.", true, "Okay, 17 has no divisors.", "17 is prime."},
		{"still thinking", true, "still thinking", ""},
		{"<think>never closed", false, "never closed", ""},
	} {
		think, content := SplitThinking(tc.text, tc.opened)
		if think != tc.think || content != tc.ct {
			t.Errorf("SplitThinking(%q, %v) = %q, %q; want %q, %q", tc.text, tc.opened, think, content, tc.think, tc.ct)
		}
	}
	if !PromptOpensThinking("<｜Assistant｜><think>\n") || PromptOpensThinking("<|im_start|>assistant\n") {
		t.Error("PromptOpensThinking")
	}
}

// streamAll feeds text to a stream in pieces of n bytes (split anywhere,
// even inside a UTF-8 sequence, as a tokenizer's pieces can be).
func streamAll(f ToolFormat, parseThinking, opened bool, text string, n int) (thinking, content string, calls []ParsedCall, err error) {
	s := NewStream(f, parseThinking, opened)
	var tb, cb strings.Builder
	for i := 0; i < len(text); i += n {
		d := s.Push(text[i:min(i+n, len(text))])
		tb.WriteString(d.Thinking)
		cb.WriteString(d.Content)
	}
	d, calls, err := s.Finish()
	return tb.String() + d.Thinking, cb.String() + d.Content, calls, err
}

// The streamed result, however the output is cut, equals the parse of the
// whole output, and no part of a call is ever let out as content.
func TestStreamMatchesWholeParse(t *testing.T) {
	for _, tc := range parseCases {
		if tc.wantErr {
			continue
		}
		for n := 1; n <= len(tc.text); n++ {
			s := NewStream(tc.format, false, false)
			var content string
			for i := 0; i < len(tc.text); i += n {
				content += s.Push(tc.text[i:min(i+n, len(tc.text))]).Content
				if len(tc.calls) > 0 && strings.Contains(content, tc.calls[0].Name) && !strings.Contains(tc.content, tc.calls[0].Name) {
					t.Fatalf("%s, pieces of %d: call streamed out as content: %q", tc.name, n, content)
				}
			}
			d, calls, err := s.Finish()
			content += d.Content
			if err != nil || strings.TrimSpace(content) != tc.content || !sameCalls(calls, tc.calls) {
				t.Fatalf("%s, pieces of %d: content %q calls %s err %v; want %q %s", tc.name, n, content, showCalls(calls), err, tc.content, showCalls(tc.calls))
			}
		}
	}
}

func TestStreamThinking(t *testing.T) {
	text := "<think>\nThe user wants weather.\n</think>\n\nChecking.<tool_call>\n{\"name\": \"w\", \"arguments\": {}}\n</tool_call>"
	for n := 1; n <= len(text); n++ {
		think, content, calls, err := streamAll(ToolsHermes, true, false, text, n)
		if err != nil || strings.TrimSpace(think) != "The user wants weather." || content != "Checking." || !sameCalls(calls, []ParsedCall{call("w", `{}`)}) {
			t.Fatalf("pieces of %d: %q %q %s %v", n, think, content, showCalls(calls), err)
		}
	}
	opened := "17 has no divisors.</think>\n\n17 is prime."
	for n := 1; n <= len(opened); n++ {
		think, content, _, err := streamAll(ToolsDeepSeek, true, true, opened, n)
		if err != nil || think != "17 has no divisors." || content != "17 is prime." {
			t.Fatalf("opened, pieces of %d: %q %q %v", n, think, content, err)
		}
	}
	plain := "No reasoning here."
	for n := 1; n <= len(plain); n++ {
		think, content, _, _ := streamAll(ToolsNone, true, false, plain, n)
		if think != "" || content != plain {
			t.Fatalf("plain, pieces of %d: %q %q", n, think, content)
		}
	}
}

func TestStreamBrokenCallComesBackAsContent(t *testing.T) {
	text := "Sure <tool_call>{\"name\": oops</tool_call>"
	_, content, calls, err := streamAll(ToolsHermes, false, false, text, 3)
	if err == nil || calls != nil || content != "Sure "+"<tool_call>{\"name\": oops</tool_call>" {
		t.Fatalf("content %q calls %v err %v", content, calls, err)
	}
}

// Whitespace before a decision is held only up to a bound, then let out.
func TestStreamLongLeadingSpace(t *testing.T) {
	space := strings.Repeat(" ", maxLeadingSpace+10)
	for _, f := range []ToolFormat{ToolsLlama3, ToolsJSON} {
		s := NewStream(f, true, false)
		var out string
		for range len(space) {
			out += s.Push(" ").Content
		}
		out += s.Push("hi").Content
		d, calls, err := s.Finish()
		if out+d.Content != space+"hi" || calls != nil || err != nil {
			t.Fatalf("%v: %d bytes of content, calls %v, err %v", f, len(out+d.Content), calls, err)
		}
		if len(out) == 0 {
			t.Fatalf("%v: leading space held to the end", f)
		}
	}
}
