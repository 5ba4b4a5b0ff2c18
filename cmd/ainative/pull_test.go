package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/store"
	"github.com/raym33/ainative/internal/store/hub/hubtest"
	"github.com/raym33/ainative/internal/tensor"
)

func storeGGUF(t *testing.T, name string) []byte {
	t.Helper()
	b := gguf.NewBuilder()
	for _, kv := range [][2]any{{"general.architecture", "llama"}, {"general.name", name},
		{"general.file_type", uint32(7)}, {"llama.context_length", uint32(4096)},
		{"general.license", "mit"}, {"tokenizer.chat_template", "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}"}} {
		if err := b.Set(kv[0].(string), kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.AddTensor("w", tensor.F32, []uint64{4}, []byte(strings.Repeat(name, 16)[:16])); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestStoreCommands drives pull, list, show, cp, import and rm against a
// stand-in hub, in a store of its own.
func TestStoreCommands(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	srv.Add("o/Tiny-GGUF", "tiny-Q8_0.gguf", storeGGUF(t, "tiny"))
	t.Setenv("AINATIVE_HOME", t.TempDir())
	t.Setenv("HF_ENDPOINT", srv.URL)
	t.Setenv("HF_TOKEN", "")

	out, err := runCLI(t, "", "pull", "hf.co/o/Tiny-GGUF:Q8_0")
	if err != nil || !strings.Contains(out, "pulled hf.co/o/Tiny-GGUF:Q8_0") || !strings.Contains(out, "(100%)") {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	out, err = runCLI(t, "", "pull", "--json", "hf.co/o/Tiny-GGUF:Q8_0")
	if err != nil {
		t.Fatal(err)
	}
	var last store.Progress
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if err := json.Unmarshal([]byte(line), &last); err != nil {
			t.Fatalf("--json line %q: %v", line, err)
		}
	}
	if last.Status != "success" {
		t.Errorf("last --json event %+v", last)
	}

	out, err = runCLI(t, "", "show", "hf.co/o/Tiny-GGUF:Q8_0")
	for _, want := range []string{"llama", "Q8_0", "4096", "mit", "bos_token"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("show lacks %q (%v):\n%s", want, err, out)
		}
	}
	if out, err := runCLI(t, "", "show", "--template", "hf.co/o/Tiny-GGUF:Q8_0"); err != nil || !strings.HasPrefix(out, "{{ bos_token }}") {
		t.Errorf("show --template: %v %q", err, out)
	}

	if _, err := runCLI(t, "", "cp", "hf.co/o/Tiny-GGUF:Q8_0", "tiny"); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "other.gguf")
	if err := os.WriteFile(file, storeGGUF(t, "other"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "", "import", file, "other:v1"); err != nil || !strings.Contains(out, "imported other:v1") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	out, err = runCLI(t, "", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var entries []store.Entry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
	}
	if !slices.Equal(names, []string{"hf.co/o/Tiny-GGUF:Q8_0", "other:v1", "tiny:latest"}) {
		t.Errorf("list: %v", names)
	}
	if out, err := runCLI(t, "", "list"); err != nil || !strings.Contains(out, "NAME") || !strings.Contains(out, "other:v1") {
		t.Errorf("list: %v\n%s", err, out)
	}

	if _, err := runCLI(t, "", "rm", "tiny", "other:v1"); err != nil {
		t.Fatal(err)
	}
	_, err = runCLI(t, "", "show", "tiny")
	if err == nil || !strings.Contains(err.Error(), "ainative list") || !strings.Contains(err.Error(), "tiny:latest") {
		t.Errorf("show of a removed model: %v", err)
	}
	if _, err := runCLI(t, "", "import", file); err == nil {
		t.Error("import without a name succeeded")
	}
}

func TestStoreVerbsAreNotLinked(t *testing.T) {
	root := newRootCmd()
	img, _, err := root.Find([]string{"image", "build"})
	if err != nil {
		t.Fatal(err)
	}
	var f imageFlags
	links := f.options(img, t.TempDir()).Links
	for _, verb := range []string{"rm", "cp", "list", "show", "pull", "import", "ps"} {
		if slices.Contains(links, verb) {
			t.Errorf("the image would link /bin/%s", verb)
		}
	}
	if !slices.Contains(links, "sh") && !slices.Contains(links, "gguf") {
		t.Errorf("links %v lack the system commands", links)
	}
}
