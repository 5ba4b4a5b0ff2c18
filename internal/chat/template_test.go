package chat

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ardanlabs/jinja"
)

func compileFile(t *testing.T, name string) *Template {
	t.Helper()
	src, err := os.ReadFile("testdata/templates/" + name + ".jinja")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := Compile(name, string(src), Tokens{BOS: "<s>", EOS: "</s>"})
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func TestCapabilities(t *testing.T) {
	for _, tc := range []struct {
		name   string
		want   Capabilities
		format ToolFormat
	}{
		{"llama3.1", Capabilities{Tools: true}, ToolsLlama3},
		{"llama3.2", Capabilities{Tools: true}, ToolsLlama3},
		{"qwen2.5", Capabilities{Tools: true}, ToolsHermes},
		{"qwen3", Capabilities{Tools: true, Thinking: true, ThinkingToggle: true}, ToolsHermes},
		{"gemma2", Capabilities{}, ToolsNone},
		{"gemma3", Capabilities{}, ToolsNone},
		{"phi3.5", Capabilities{}, ToolsNone},
		{"mistral-v0.3", Capabilities{Tools: true}, ToolsMistral},
		{"mistral-nemo", Capabilities{Tools: true}, ToolsMistral},
		{"deepseek-r1-distill", Capabilities{Thinking: true}, ToolsDeepSeek},
		{"deepseek-v3.1", Capabilities{Thinking: true, ThinkingToggle: true}, ToolsDeepSeek},
		{"qwq", Capabilities{Tools: true, Thinking: true}, ToolsHermes},
		{"hermes3-tool-use", Capabilities{Tools: true}, ToolsHermes},
		{"phi4-mini-llamacpp", Capabilities{Tools: true}, ToolsPhi4},
	} {
		tmpl := compileFile(t, tc.name)
		if got := tmpl.Capabilities(); got != tc.want {
			t.Errorf("%s: capabilities %+v, want %+v", tc.name, got, tc.want)
		}
		if got := tmpl.ToolFormat(); got != tc.format {
			t.Errorf("%s: tool format %v, want %v", tc.name, got, tc.format)
		}
	}
	src, _ := Builtin(ChatML)
	caps, err := TemplateCapabilities(src)
	if err != nil || caps != (Capabilities{}) {
		t.Errorf("chatml: %+v, %v; want no capabilities", caps, err)
	}
}

func TestNullContentProbe(t *testing.T) {
	// Gemma 3 raises "Invalid content type" on none; the probe learns to
	// pass "" instead.
	if !compileFile(t, "gemma3").nullContentAsEmpty {
		t.Error("gemma3: null content not adapted")
	}
	// QwQ splits the content of an assistant turn that a tool result follows.
	if !compileFile(t, "qwq").nullContentAsEmpty {
		t.Error("qwq: null content not adapted")
	}
	if compileFile(t, "qwen2.5").nullContentAsEmpty {
		t.Error("qwen2.5 handles none and needs no adaptation")
	}
}

func TestErrorsNameTheModel(t *testing.T) {
	_, err := Compile("acme/empty", "  ", Tokens{})
	var te *Error
	if !errors.As(err, &te) || te.Model != "acme/empty" || !strings.Contains(err.Error(), `"acme/empty"`) {
		t.Fatalf("no template: %v", err)
	}
	_, err = Compile("acme/broken", "{% if messages %}unclosed", Tokens{})
	if !errors.As(err, &te) || te.Model != "acme/broken" {
		t.Fatalf("broken template: %v", err)
	}
	_, err = Compile("acme/huge", strings.Repeat("x", maxTemplateSize+1), Tokens{})
	if err == nil || !strings.Contains(err.Error(), "acme/huge") {
		t.Fatalf("huge template: %v", err)
	}
	tmpl := compileFile(t, "gemma2")
	_, err = tmpl.Render([]Message{{Role: "system", Content: Text("x")}}, nil, RenderOptions{})
	if !errors.As(err, &te) || !te.Raised || te.Model != "gemma2" || !strings.Contains(err.Error(), "System role not supported") {
		t.Fatalf("raise_exception: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	tmpl := compileFile(t, "qwen2.5")
	user := []Message{{Role: "user", Content: Text("hi")}}
	for name, tools := range map[string][]json.RawMessage{
		"not JSON":      {json.RawMessage(`{"type":`)},
		"not an object": {json.RawMessage(`[1,2]`)},
		"trailing data": {json.RawMessage(`{} {}`)},
		"too deep":      {json.RawMessage(strings.Repeat("[", 200) + strings.Repeat("]", 200))},
	} {
		_, err := tmpl.Render(user, tools, RenderOptions{})
		var te *Error
		if !errors.As(err, &te) || te.Raised || !strings.Contains(err.Error(), "tool 0") {
			t.Errorf("%s: %v, want an error naming tool 0", name, err)
		}
	}
	bad := []Message{{Role: "assistant", ToolCalls: []ToolCall{{Function: FunctionCall{Name: "f", Arguments: json.RawMessage(`"not json"`)}}}}}
	if _, err := tmpl.Render(bad, nil, RenderOptions{}); err == nil || !strings.Contains(err.Error(), "message 0: tool call 0") {
		t.Errorf("bad arguments: %v", err)
	}
	if _, err := tmpl.Render(user, nil, RenderOptions{Extra: map[string]json.RawMessage{"x": json.RawMessage(`{`)}}); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("bad extra variable: %v", err)
	}
}

// OpenAI clients send arguments as a string holding JSON; the template must
// see the same object as when they come as an object.
func TestStringArgumentsFromOpenAI(t *testing.T) {
	tmpl := compileFile(t, "qwen2.5")
	msgs := func(args string) []Message {
		return []Message{{Role: "user", Content: Text("w?")}, {Role: "assistant", ToolCalls: []ToolCall{{ID: "c1",
			Function: FunctionCall{Name: "get_weather", Arguments: json.RawMessage(args)}}}}}
	}
	obj, err := tmpl.Render(msgs(`{"b": 1, "a": [true, null]}`), nil, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	str, err := tmpl.Render(msgs(`"{\"b\":1,\"a\":[true,null]}"`), nil, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if obj != str || !strings.Contains(obj, `"arguments": {"b": 1, "a": [true, null]}`) {
		t.Fatalf("object form:\n%s\nstring form:\n%s", obj, str)
	}
	empty, err := tmpl.Render(msgs(``), nil, RenderOptions{})
	if err != nil || !strings.Contains(empty, `"arguments": {}`) {
		t.Fatalf("no arguments: %v\n%s", err, empty)
	}
}

func TestEmptyToolsAreNone(t *testing.T) {
	tmpl := compileFile(t, "llama3.1")
	user := []Message{{Role: "user", Content: Text("hi")}}
	a, err := tmpl.Render(user, nil, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tmpl.Render(user, []json.RawMessage{}, RenderOptions{})
	if err != nil || a != b || strings.Contains(a, "Environment: ipython") {
		t.Fatalf("empty tools differ from none (%v):\n%s\n%s", err, a, b)
	}
}

func TestExtraVariablesAndClock(t *testing.T) {
	src := `{{ strftime_now("%d %b %Y %H:%M") }}|{{ custom.k }}|{{ enable_thinking is defined }}`
	tmpl, err := Compile("m", src, Tokens{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.Render(nil, nil, RenderOptions{
		Now:   time.Date(2024, 7, 5, 9, 3, 0, 0, time.UTC),
		Extra: map[string]json.RawMessage{"custom": json.RawMessage(`{"k": "v"}`)},
	})
	if err != nil || out != "05 Jul 2024 09:03|v|False" {
		t.Fatalf("got %q, %v", out, err)
	}
}

func TestConcurrentRenders(t *testing.T) {
	tmpl := compileFile(t, "qwen3")
	msgs := []Message{{Role: "user", Content: Text("hi")}}
	want, err := tmpl.Render(msgs, nil, RenderOptions{AddGenerationPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for range 50 {
				got, err := tmpl.Render(msgs, nil, RenderOptions{AddGenerationPrompt: true})
				if err == nil && got != want {
					err = errors.New("render differs")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestTojson(t *testing.T) {
	v, err := jsonValue([]byte(`{"z": 1, "a": {"s": "é\u2028\n\u0001\"\\<&>", "f": [1.0, 0.1, 1e16, 1e-5, 123456.789, -0.0, 1e300]}, "e": [], "o": {}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kwargs map[string]jinja.Value
		want   string
	}{
		{nil, `{"z": 1, "a": {"s": "é` + "\u2028" + `\n\u0001\"\\<&>", "f": [1.0, 0.1, 1e+16, 1e-05, 123456.789, -0.0, 1e+300]}, "e": [], "o": {}}`},
		{map[string]jinja.Value{"sort_keys": jinja.NewBool(true), "separators": jinja.NewList([]jinja.Value{jinja.NewString(","), jinja.NewString(":")})},
			`{"a":{"f":[1.0,0.1,1e+16,1e-05,123456.789,-0.0,1e+300],"s":"é` + "\u2028" + `\n\u0001\"\\<&>"},"e":[],"o":{},"z":1}`},
		{map[string]jinja.Value{"indent": jinja.NewInt(2)},
			"{\n  \"z\": 1,\n  \"a\": {\n    \"s\": \"é\u2028\\n\\u0001\\\"\\\\<&>\",\n    \"f\": [\n      1.0,\n      0.1,\n      1e+16,\n      1e-05,\n      123456.789,\n      -0.0,\n      1e+300\n    ]\n  },\n  \"e\": [],\n  \"o\": {}\n}"},
	} {
		got, err := tojson([]jinja.Value{v}, tc.kwargs)
		if err != nil {
			t.Fatal(err)
		}
		if got.AsString() != tc.want {
			t.Errorf("tojson(%v):\n got %s\nwant %s", tc.kwargs, got.AsString(), tc.want)
		}
	}
	if _, err := tojson([]jinja.Value{jinja.Undefined()}, nil); err == nil {
		t.Error("tojson of undefined must fail as json.dumps does")
	}
	if _, err := tojson([]jinja.Value{v}, map[string]jinja.Value{"indent": jinja.NewInt(1 << 20)}); err == nil {
		t.Error("huge indent accepted")
	}
}

func TestRenameTojson(t *testing.T) {
	for src, want := range map[string]string{
		`{{ x | tojson }}`:                    `{{ x | __chat_tojson }}`,
		`{{- x|tojson(indent=4) -}}`:          `{{- x|__chat_tojson(indent=4) -}}`,
		`{% set y = x|tojson %}`:              `{% set y = x|__chat_tojson %}`,
		`{{ "| tojson" + '|tojson' }}`:        `{{ "| tojson" + '|tojson' }}`,
		`{{ "a\"|tojson" }}`:                  `{{ "a\"|tojson" }}`,
		`text | tojson {# x|tojson #}`:        `text | tojson {# x|tojson #}`,
		`{% raw %}{{ x|tojson }}{% endraw %}`: `{% raw %}{{ x|tojson }}{% endraw %}`,
		`{{ x|tojsonish }}{{ y | tojson}}`:    `{{ x|tojsonish }}{{ y | __chat_tojson}}`,
		`{ {{ x|tojson }`:                     `{ {{ x|__chat_tojson }`,
		`{{ x|tojson`:                         `{{ x|__chat_tojson`,
	} {
		if got := renameTojson(src); got != want {
			t.Errorf("renameTojson(%q) = %q, want %q", src, got, want)
		}
	}
}

func TestStrftime(t *testing.T) {
	tm := time.Date(2024, 7, 5, 21, 3, 9, 0, time.UTC)
	got := strftime("%d %b %Y|%B %A %a|%y-%m-%d %H:%M:%S %I%p %j %%|%q", tm)
	want := "05 Jul 2024|July Friday Fri|24-07-05 21:03:09 09PM 187 %|%q"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func readTemplate(name string) (string, error) {
	b, err := os.ReadFile("testdata/templates/" + name + ".jinja")
	return string(b), err
}

// jinja2 turns \r\n and \r into \n and drops one trailing newline before
// parsing; so must we.
func TestNewlinesAsJinja2(t *testing.T) {
	tmpl, err := Compile("m", "a\r\nb\r{{ 1 }}\n\n", Tokens{})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := tmpl.Render(nil, nil, RenderOptions{}); err != nil || out != "a\nb\n1\n" {
		t.Fatalf("got %q, %v", out, err)
	}
}

func TestRange(t *testing.T) {
	tmpl, err := Compile("m", `{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(5, 0, -2) | list }} {{ range(2, 1) | list }}`, Tokens{})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := tmpl.Render(nil, nil, RenderOptions{}); err != nil || out != "[0, 1, 2] [1, 3, 5] [5, 3, 1] []" {
		t.Fatalf("got %q, %v", out, err)
	}
	for _, src := range []string{`{{ range(1000000000) }}`, `{{ range(0, 10, 0) }}`, `{{ range('a') }}`, `{{ range() }}`, `{{ range(-9223372036854775807, 9223372036854775807) }}`} {
		tmpl, err := Compile("m", src, Tokens{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tmpl.Render(nil, nil, RenderOptions{}); err == nil {
			t.Errorf("%s rendered", src)
		}
	}
}

func TestTemplateSyntaxErrors(t *testing.T) {
	for src, want := range map[string]string{
		"a {{ x ":               "unclosed tag opened at line 1",
		"a\n{% if x }}":         "unclosed tag opened at line 2",
		"{# never closed":       "missing end of comment",
		"{% raw %}{{ x }}":      "missing end of raw block",
		"{{ {'a': 1 }}":         "unclosed tag",
		"{% for %}{% endfor %}": "",
		"{% if %}":              "",
	} {
		_, err := Compile("acme/m", src, Tokens{})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "acme/m") {
			t.Errorf("%q: %v, want an error naming the model and %q", src, err, want)
		}
	}
}

// transformers' {% generation %} marks render only their body.
func TestGenerationTags(t *testing.T) {
	tmpl, err := Compile("m", "A{% generation %}B{% endgeneration %}C", Tokens{})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := tmpl.Render(nil, nil, RenderOptions{}); err != nil || out != "ABC" {
		t.Fatalf("got %q, %v", out, err)
	}
}

// Endless macro recursion is an error, not a stack overflow that kills the
// process; recursion within the bound works.
func TestMacroRecursion(t *testing.T) {
	tmpl, err := Compile("acme/loop", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", Tokens{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmpl.Render(nil, nil, RenderOptions{}); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("got %v", err)
	}
	tmpl, err = Compile("m", "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(100) | length }} {{ f(3) }}", Tokens{})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := tmpl.Render(nil, nil, RenderOptions{}); err != nil || out != "192 321" {
		t.Fatalf("got %q, %v", out, err)
	}
	if _, err := Compile("m", "{{ "+strings.Repeat("(", 300)+"1"+strings.Repeat(")", 300)+" }}", Tokens{}); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("deep brackets: %v", err)
	}
}
