package chat

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/testdata"
)

func buildGGUF(t *testing.T, kv map[string]any) *gguf.File {
	t.Helper()
	b := gguf.NewBuilder()
	for k, v := range kv {
		if err := b.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFromGGUF(t *testing.T) {
	src, err := readTemplate("gemma2")
	if err != nil {
		t.Fatal(err)
	}
	f := buildGGUF(t, map[string]any{
		"general.architecture":    "gemma2",
		keyTemplate:               src,
		keyTemplate + ".tool_use": "{{ bos_token }}tools{{ eos_token }}",
		keyTokens:                 []string{"<pad>", "<eos>", "<bos>", "hi"},
		keyBOS:                    uint32(2),
		keyEOS:                    uint32(1),
	})
	tmpl, err := FromGGUF("acme/gemma", f, "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.Render([]Message{{Role: "user", Content: Text("Hi")}}, nil, RenderOptions{AddGenerationPrompt: true})
	if want := "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"; err != nil || out != want {
		t.Fatalf("got %q, %v; want %q", out, err, want)
	}
	variant, err := FromGGUF("acme/gemma", f, "tool_use")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := variant.Render(nil, nil, RenderOptions{}); err != nil || out != "<bos>tools<eos>" {
		t.Fatalf("variant: %q, %v", out, err)
	}
	chatml, err := FromGGUF("acme/gemma", f, ChatML)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := chatml.Render([]Message{{Role: "user", Content: Text("Hi")}}, nil, RenderOptions{AddGenerationPrompt: true}); err != nil || out != "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n" {
		t.Fatalf("chatml: %q, %v", out, err)
	}
	if _, err := FromGGUF("acme/gemma", f, "nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "acme/gemma") {
		t.Fatalf("unknown variant: %v", err)
	}

	bad := buildGGUF(t, map[string]any{keyTokens: []string{"a"}, keyBOS: uint32(7)})
	if _, err := FromGGUF("acme/bad", bad, ""); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
		t.Fatalf("BOS out of range: %v", err)
	}
}

// The conformance models carry no template: loading one is an error that
// names the model, and ChatML is there only when asked for.
func TestFromGGUFFixtureWithoutTemplate(t *testing.T) {
	f, err := gguf.Open(testdata.Path(t, "models", "llama-F16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = FromGGUF("tiny-llama", f, "")
	var te *Error
	if !errors.As(err, &te) || te.Model != "tiny-llama" || !strings.Contains(err.Error(), "no chat template") {
		t.Fatalf("got %v", err)
	}
	tk, err := TokensFromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	vocab, _ := f.Strings(keyTokens)
	if tk.BOS != vocab[510] || tk.EOS != vocab[511] || tk.BOS == "" {
		t.Fatalf("tokens %+v", tk)
	}
	tmpl, err := FromGGUF("tiny-llama", f, ChatML)
	if err != nil || tmpl.Model() != "tiny-llama" {
		t.Fatalf("chatml on request: %v", err)
	}
}
