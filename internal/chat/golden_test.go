package chat

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// goldenNow is the instant testdata/reference.py gives strftime_now.
var goldenNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

type goldenTemplate struct {
	Name               string `json:"name"`
	File               string `json:"file"`
	BOS                string `json:"bos_token"`
	EOS                string `json:"eos_token"`
	StringArguments    bool   `json:"string_arguments"`
	NullContentAsEmpty bool   `json:"null_content_as_empty"`
	// Cases, when set, limits the conversations to those the template is
	// made for.
	Cases []string `json:"cases"`
}

type goldenCase struct {
	Name     string            `json:"name"`
	Messages []Message         `json:"messages"`
	Tools    []json.RawMessage `json:"tools"`
	Options  struct {
		AddGenerationPrompt bool  `json:"add_generation_prompt"`
		EnableThinking      *bool `json:"enable_thinking"`
	} `json:"options"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadGoldenTemplate(t *testing.T, g goldenTemplate) *Template {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", g.File))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := Compile(g.Name, string(src), Tokens{BOS: g.BOS, EOS: g.EOS})
	if err != nil {
		t.Fatalf("compile %s: %v", g.Name, err)
	}
	return tmpl
}

// TestGolden renders every template over every conversation and compares
// with what Python's jinja2, set up as transformers sets it up, produced
// (testdata/reference.py), byte for byte. CHAT_GOLDEN_DUMP=dir writes
// what Go rendered there, to compare by hand.
func TestGolden(t *testing.T) {
	var templates []goldenTemplate
	var cases []goldenCase
	readJSON(t, "testdata/templates.json", &templates)
	readJSON(t, "testdata/cases.json", &cases)
	checked := 0
	for _, g := range templates {
		tmpl := loadGoldenTemplate(t, g)
		if tmpl.stringArguments != g.StringArguments {
			t.Errorf("%s: probe found string arguments %v, the reference used %v", g.Name, tmpl.stringArguments, g.StringArguments)
		}
		if tmpl.nullContentAsEmpty && !g.NullContentAsEmpty {
			t.Errorf("%s: the probe passes \"\" for a null content, the reference does not", g.Name)
		}
		for _, c := range cases {
			if g.Cases != nil && !slices.Contains(g.Cases, c.Name) {
				continue
			}
			t.Run(g.Name+"/"+c.Name, func(t *testing.T) {
				base := filepath.Join("testdata", "golden", g.Name+"."+c.Name)
				got, err := tmpl.Render(c.Messages, c.Tools, RenderOptions{
					AddGenerationPrompt: c.Options.AddGenerationPrompt,
					EnableThinking:      c.Options.EnableThinking,
					Now:                 goldenNow,
				})
				if want, rerr := os.ReadFile(base + ".err"); rerr == nil {
					var te *Error
					if err == nil {
						t.Fatalf("rendered, the reference raised %q; got:\n%s", want, got)
					}
					if !errors.As(err, &te) || !te.Raised || te.Model != g.Name || !strings.Contains(err.Error(), string(want)) {
						t.Fatalf("error %v (raised=%v), want the template's %q naming the model", err, te != nil && te.Raised, want)
					}
					return
				}
				if pyErr, rerr := os.ReadFile(base + ".pyerr"); rerr == nil {
					if err == nil {
						t.Fatalf("rendered, the reference failed with %s; got:\n%s", pyErr, got)
					}
					return
				}
				want, rerr := os.ReadFile(base + ".txt")
				if rerr != nil {
					t.Fatal(rerr)
				}
				if err != nil {
					t.Fatalf("render: %v", err)
				}
				if dir := os.Getenv("CHAT_GOLDEN_DUMP"); dir != "" && err == nil {
					_ = os.WriteFile(filepath.Join(dir, g.Name+"."+c.Name+".txt"), []byte(got), 0o644)
				}
				if got != string(want) {
					t.Fatalf("differs from the reference at byte %d\n--- got\n%s\n--- want\n%s", firstDiff(got, string(want)), got, want)
				}
			})
			checked++
		}
	}
	if checked < 100 {
		t.Fatalf("only %d renders checked", checked)
	}
}

func firstDiff(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
