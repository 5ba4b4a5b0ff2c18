package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/model/synth"
	"github.com/raym33/ainative/internal/sample"
	"github.com/raym33/ainative/internal/tensor"
	"github.com/raym33/ainative/internal/testdata"
	"github.com/raym33/ainative/internal/tokenizer"
)

// TestGenerateEveryArch synthesizes a tiny model of each architecture
// and generates from it through the command line, greedy and sampled.
// The greedy run must give the tokens the library gives with argmax.
func TestGenerateEveryArch(t *testing.T) {
	dir := t.TempDir()
	for _, arch := range synth.Archs {
		t.Run(arch, func(t *testing.T) {
			testdata.UnderRace(t, arch, "llama")
			path := filepath.Join(dir, arch+".gguf")
			if out, err := runCLI(t, "", "gguf", "synth", "--arch", arch, "--shape", "tiny", "--type", "Q4_K_M", "--out", path); err != nil {
				t.Fatalf("synth: %v\n%s", err, out)
			}
			want := greedyTokens(t, path, []int32{5, 6, 7}, 6)
			for _, args := range [][]string{
				{"--tokens", "5,6,7", "--temp", "0"},
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
				// Without --stop, a run ends at -n tokens or earlier at an
				// end-of-generation token, which is not shown.
				switch res.StopReason {
				case "length":
					if len(res.Tokens) != 6 {
						t.Errorf("generate %v: %d tokens, stop %q", args, len(res.Tokens), res.StopReason)
					}
				case "stop":
					if len(res.Tokens) >= 6 {
						t.Errorf("generate %v: %d tokens, stop %q", args, len(res.Tokens), res.StopReason)
					}
				default:
					t.Errorf("generate %v: stop reason %q", args, res.StopReason)
				}
				if args[0] == "--tokens" && args[2] == "0" && !slices.Equal(res.Tokens, want) {
					t.Errorf("greedy: tokens %v, the library gives %v", res.Tokens, want)
				}
			}
		})
	}
}

// greedyTokens generates from the model at path with the library: argmax
// of the logits, stopping at an end-of-generation token.
func greedyTokens(t *testing.T, path string, prompt []int32, n int) []int32 {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(f, model.Options{Threads: 2, ContextLength: 64, KVType: tensor.F16})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := []int32{}
	_, err = m.Generate(context.Background(), m.NewSequence(), prompt, n,
		func(l []float32) int32 { return sample.Argmax(l) },
		func(id int32) bool {
			if tok.IsEOG(id) {
				return true
			}
			got = append(got, id)
			return false
		})
	if err != nil {
		t.Fatal(err)
	}
	return got
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
	if err := json.Unmarshal([]byte(out), &full); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
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
	if err := json.Unmarshal([]byte(out), &cut); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
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
	// The text form's statistics have no speed for no tokens, not NaN.
	out, err = runCLI(t, "", "generate", "--model", path, "--tokens", "1,2,3", "-n", "0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "generated 0 tokens") || strings.Contains(out, "NaN") || strings.Contains(out, "Inf") {
		t.Errorf("-n 0 statistics: %q", out)
	}
}

// TestGenerateNonFiniteLogits: a NaN in the weights makes every logit
// NaN; generate reports it instead of emitting some token forever.
func TestGenerateNonFiniteLogits(t *testing.T) {
	m, err := synth.New(synth.Options{Shape: "micro", Type: "F32"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	f, err := gguf.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	info, ok := f.Tensor("output_norm.weight")
	if !ok || info.Type != tensor.F32 {
		t.Fatalf("output_norm.weight: %v", info)
	}
	binary.LittleEndian.PutUint32(data[f.DataOffset+int64(info.Offset):], math.Float32bits(float32(math.NaN())))
	path := filepath.Join(t.TempDir(), "nan.gguf")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, temp := range []string{"0", "0.8"} {
		out, err := runCLI(t, "", "generate", "--model", path, "--tokens", "1,2", "-n", "5", "--temp", temp, "--json")
		if err == nil || !errors.Is(err, sample.ErrNotFinite) || !strings.Contains(err.Error(), "after 0 generated tokens") {
			t.Errorf("--temp %s: error %v, want the non-finite logits reported\n%s", temp, err, out)
		}
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
		{[]string{"generate", "--model", path, "--tokens", "1", "--top-p", "2"}, "--top-p 2: must be between 0 and 1"},
		{[]string{"generate", "--model", path, "--tokens", "1", "--top-p", "-1"}, "--top-p -1: must be between 0 and 1"},
		{[]string{"generate", "--model", path, "--tokens", "1", "--repeat-penalty", "0"}, "--repeat-penalty 0: must be a number greater than 0"},
		{[]string{"generate", "--model", path, "--tokens", "1", "--temp", "-1"}, "--temp -1: must be"},
		{[]string{"generate", "--model", path, "--tokens", "1", "-n", "-5"}, "-n -5: must be -1 (no limit), 0 or more"},
		{[]string{"generate", "--model", path, "--tokens", "1", "--ctx", "-1"}, "--ctx -1: must be between 0"},
		{[]string{"generate", "--model", path, "--tokens", "1", "--ctx", "1000000000"}, "--ctx 1000000000: must be between 0"},
		{[]string{"generate", "--model", path, "--tokens", "1", "--threads", "-3"}, "--threads -3: must be between 0"},
		{[]string{"generate", "--model", path, "--tokens", "1", "--top-k", "-2"}, "--top-k -2"},
		{[]string{"generate", "--model", path, "--tokens", "1", "--repeat-last-n", "-2"}, "--repeat-last-n -2"},
		{[]string{"generate", "--model", path, "--prompt", ""}, "--prompt is empty"},
		{[]string{"generate", "--model", path, "--prompt", "", "--tokens", "1"}, "exactly one of --prompt and --tokens"},
		{[]string{"generate", "--model", path, "--tokens", ""}, `--tokens: no token ids in ""`},
		{[]string{"logits", "--model", path, "--tokens", "1", "--out", filepath.Join(t.TempDir(), "x"), "--threads", "-1"}, "--threads -1"},
		{[]string{"bench", "--model", path, "-r", "0"}, "-r 0: must be 1 or more"},
		{[]string{"bench", "--model", path, "-p", "-1"}, "-p -1: must be 0 or more"},
		{[]string{"bench", "--model", path, "--ctx", "-4", "-p", "1", "-n", "1"}, "--ctx -4"},
		{[]string{"logits", "--model", path, "--tokens", "1", "--out", filepath.Join(t.TempDir(), "x"), "--ctx", "1", "--kv-type", "q8"}, "--kv-type"},
		{[]string{"logits", "--model", path, "--tokens", strings.Repeat("1,", 70) + "1", "--out", filepath.Join(t.TempDir(), "x")}, "context is full"},
		{[]string{"bench", "--model", path, "-p", "100", "--ctx", "64"}, "exceeds the context length"},
		{[]string{"generate", "--model", path, "--tokens", "1", "--rope-scaling", "ntk"}, `RoPE scaling "ntk" is not supported (none, linear, yarn)`},
		{[]string{"generate", "--model", path, "--tokens", "1", "--rope-scaling", "yarn", "--rope-scale", "-2"}, "RoPE scaling factor -2"},
		{[]string{"gguf", "synth", "--shape", "nope", "--type", "Q8_0", "--out", path}, `unknown shape "nope"`},
		{[]string{"generate", "--model", filepath.Join(t.TempDir(), "missing.gguf"), "--tokens", "1"}, "no such file"},
	} {
		if out, err := runCLI(t, "", tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q\n%s", tc.args, err, tc.want, out)
		}
	}
}

// TestRopeScalingFlags: --rope-scaling yarn --rope-scale 4 lets a model
// trained for 64 tokens take 71, which is "context is full" without them
// (TestCLIBadInput).
func TestRopeScalingFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if out, err := runCLI(t, "", "gguf", "synth", "--shape", "micro", "--type", "F16", "--out", path); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out := filepath.Join(t.TempDir(), "l.f32")
	if o, err := runCLI(t, "", "logits", "--model", path, "--tokens", strings.Repeat("1,", 70)+"1", "--out", out,
		"--rope-scaling", "yarn", "--rope-scale", "4", "--ctx", "0"); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	if st, err := os.Stat(out); err != nil || st.Size() == 0 {
		t.Fatalf("logits file: %v", err)
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
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(dir, "golden", "qwen2-F32.logits.f32"))
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 || len(want)%(4*len(ids)) != 0 {
		t.Fatalf("golden file of %d bytes is not logits for %d tokens", len(want), len(ids))
	}
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
