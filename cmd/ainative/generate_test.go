package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model/synth"
	"github.com/raym33/ainative/internal/testdata"
)

// TestGenerateEveryArch synthesizes a tiny model of each architecture
// and generates from it through the command line, greedy and sampled.
func TestGenerateEveryArch(t *testing.T) {
	dir := t.TempDir()
	for _, arch := range synth.Archs {
		t.Run(arch, func(t *testing.T) {
			path := filepath.Join(dir, arch+".gguf")
			if out, err := runCLI(t, "", "gguf", "synth", "--arch", arch, "--shape", "tiny", "--type", "Q4_K_M", "--out", path); err != nil {
				t.Fatalf("synth: %v\n%s", err, out)
			}
			for _, args := range [][]string{
				{"--prompt", "hello world", "--temp", "0"},
				{"--tokens", "5,6,7", "--temp", "0.9", "--seed", "3", "--top-k", "20", "--top-p", "0.9", "--repeat-penalty", "1.1"},
			} {
				out, err := runCLI(t, "", append([]string{"generate", "--model", path, "-n", "6", "--json", "--ctx", "64"}, args...)...)
				if err != nil {
					t.Fatalf("generate %v: %v\n%s", args, err, out)
				}
				var res struct {
					Tokens     []int32 `json:"tokens"`
					StopReason string  `json:"stop_reason"`
				}
				if err := json.Unmarshal([]byte(out), &res); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				if res.StopReason == "length" && len(res.Tokens) != 6 {
					t.Errorf("generate %v: %d tokens, stop %q", args, len(res.Tokens), res.StopReason)
				}
			}
		})
	}
}

func TestGenerateStopString(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if out, err := runCLI(t, "", "gguf", "synth", "--shape", "tiny", "--type", "Q8_0", "--out", path); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := runCLI(t, "", "generate", "--model", path, "--tokens", "1,2,3", "-n", "20", "--temp", "0", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var full struct{ Text string }
	json.Unmarshal([]byte(out), &full)
	// Stop at the first pair of ASCII letters after the start (the text
	// of a random model need not be valid UTF-8).
	isLetter := func(c byte) bool { return c >= 'a' && c <= 'z' }
	i := 1
	for i+1 < len(full.Text) && !(isLetter(full.Text[i]) && isLetter(full.Text[i+1])) {
		i++
	}
	if i+1 >= len(full.Text) {
		t.Skipf("no letters to stop at in %q", full.Text)
	}
	stop := full.Text[i : i+2]
	out, err = runCLI(t, "", "generate", "--model", path, "--tokens", "1,2,3", "-n", "20", "--temp", "0", "--json", "--stop", stop)
	if err != nil {
		t.Fatal(err)
	}
	var cut struct {
		Text       string
		StopReason string `json:"stop_reason"`
	}
	json.Unmarshal([]byte(out), &cut)
	if want := full.Text[:strings.Index(full.Text, stop)]; cut.Text != want || cut.StopReason != "stop" {
		t.Errorf("stop %q: text %q (%s), want %q", stop, cut.Text, cut.StopReason, want)
	}
}

// TestGenerateNoTokens: with -n 0 the prompt is evaluated and its time
// is the prompt's, not the decode's.
func TestGenerateNoTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if out, err := runCLI(t, "", "gguf", "synth", "--shape", "micro", "--type", "Q8_0", "--out", path); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := runCLI(t, "", "generate", "--model", path, "--tokens", "1,2,3", "-n", "0", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Tokens     []int32 `json:"tokens"`
		PromptSecs float64 `json:"prompt_seconds"`
		DecodeSecs float64 `json:"decode_seconds"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(res.Tokens) != 0 || res.PromptSecs <= 0 || res.DecodeSecs != 0 {
		t.Errorf("-n 0: %s", out)
	}
}

// TestGenerateWithoutVocabulary: a model file without a tokenizer runs
// from token ids; a text prompt is an error naming the file.
func TestGenerateWithoutVocabulary(t *testing.T) {
	m, err := synth.New(synth.Options{Shape: "micro", Type: "Q8_0"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Rebuild(func(key string) bool { return !strings.HasPrefix(key, "tokenizer.") })
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "novocab.gguf")
	if err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "", "generate", "--model", path, "--tokens", "1,2,3", "-n", "4", "--temp", "0", "--json")
	if err != nil {
		t.Fatalf("--tokens without a vocabulary: %v\n%s", err, out)
	}
	var res struct{ Tokens []int32 }
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Tokens) != 4 {
		t.Errorf("--tokens without a vocabulary: %s", out)
	}
	if _, err := runCLI(t, "", "generate", "--model", path, "--prompt", "hi"); err == nil ||
		!strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "tokenizer.ggml.model") {
		t.Errorf("--prompt without a vocabulary: %v", err)
	}
}

func TestCLIBadInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if out, err := runCLI(t, "", "gguf", "synth", "--shape", "micro", "--type", "F16", "--out", path); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"generate", "--model", path, "--tokens", "1,9999"}, "token 9999 at index 1 is out of range"},
		{[]string{"generate", "--model", path, "--tokens", "1,a"}, `"a" is not a token id`},
		{[]string{"generate", "--model", path}, "exactly one of --prompt and --tokens"},
		{[]string{"generate", "--model", path, "--tokens", "1", "--top-p", "2"}, "top-p 2"},
		{[]string{"logits", "--model", path, "--tokens", "1", "--out", filepath.Join(t.TempDir(), "x"), "--ctx", "1", "--kv-type", "q8"}, "--kv-type"},
		{[]string{"logits", "--model", path, "--tokens", strings.Repeat("1,", 70) + "1", "--out", filepath.Join(t.TempDir(), "x")}, "context is full"},
		{[]string{"bench", "--model", path, "-p", "100", "--ctx", "64"}, "exceeds the context length"},
		{[]string{"gguf", "synth", "--shape", "nope", "--type", "Q8_0", "--out", path}, `unknown shape "nope"`},
		{[]string{"generate", "--model", filepath.Join(t.TempDir(), "missing.gguf"), "--tokens", "1"}, "no such file"},
	} {
		if out, err := runCLI(t, "", tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q\n%s", tc.args, err, tc.want, out)
		}
	}
}

// TestLogitsCommand checks `ainative logits` against a golden file.
func TestLogitsCommand(t *testing.T) {
	dir := testdata.Dir(t)
	var ids []int32
	b, err := os.ReadFile(filepath.Join(dir, "golden", "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ids); err != nil {
		t.Fatal(err)
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	out := filepath.Join(t.TempDir(), "l.f32")
	if o, err := runCLI(t, "", "logits", "--model", filepath.Join(dir, "models", "qwen2-F32.gguf"), "--tokens", strings.Join(s, ","), "--out", out, "--ctx", "256"); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	got, _ := os.ReadFile(out)
	want, _ := os.ReadFile(filepath.Join(dir, "golden", "qwen2-F32.logits.f32"))
	if len(got) != len(want) {
		t.Fatalf("%d bytes, want %d", len(got), len(want))
	}
	for i := 0; i < len(got); i += 4 {
		g := math.Float32frombits(binary.LittleEndian.Uint32(got[i:]))
		w := math.Float32frombits(binary.LittleEndian.Uint32(want[i:]))
		if math.Abs(float64(g-w)) > 1e-4 {
			t.Fatalf("logit %d: %g, llama.cpp %g", i/4, g, w)
		}
	}
}

func TestBenchCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if out, err := runCLI(t, "", "gguf", "synth", "--shape", "tiny", "--type", "Q4_0", "--out", path); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := runCLI(t, "", "bench", "--model", path, "-p", "16", "-n", "4", "-r", "1", "--no-bandwidth", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, k := range []string{"pp_tok_s", "tg_tok_s", "weights_bytes", "read_bandwidth_gbs"} {
		if _, ok := r[k]; !ok {
			t.Errorf("no %q in %s", k, out)
		}
	}
	if r["pp_tok_s"].(float64) <= 0 || r["tg_tok_s"].(float64) <= 0 || r["weights_bytes"].(float64) <= 0 {
		t.Errorf("bench figures: %s", out)
	}
}

func FuzzParseTokens(f *testing.F) {
	for _, s := range []string{"1,2,3", " 4 , 5\t6\n", "", ",", "-1", "99999999999", "1,,2", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := parseTokens(s)
		if err != nil {
			return
		}
		if len(ids) == 0 {
			t.Fatalf("%q: no ids and no error", s)
		}
		parts := make([]string, len(ids))
		for i, id := range ids {
			if id < 0 {
				t.Fatalf("%q: negative id %d", s, id)
			}
			parts[i] = strconv.Itoa(int(id))
		}
		again, err := parseTokens(strings.Join(parts, ","))
		if err != nil || len(again) != len(ids) {
			t.Fatalf("%q: round trip %v, %v", s, again, err)
		}
	})
}
