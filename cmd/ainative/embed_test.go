package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/testdata"
	"github.com/raym33/ainative/internal/tokenizer"
)

// TestEmbedCommand feeds the golden texts, with bad lines between them,
// through `ainative embed` and checks one answer per line, in order: the
// golden's vectors (normalized, or raw with --raw) or an error.
func TestEmbedCommand(t *testing.T) {
	modelPath := testdata.Path(t, "models", "bert-F16.gguf")
	for _, c := range []struct {
		golden string
		args   []string
		raw    bool
	}{
		{"bert-F16.embed.mean.jsonl", nil, false},
		{"bert-F16.embed.mean.jsonl", []string{"--raw", "--batch", "5"}, true},
		{"bert-F32.embed.cls.jsonl", []string{"--pooling", "cls", "--batch", "1"}, false},
	} {
		t.Run(strings.Join(append([]string{c.golden}, c.args...), " "), func(t *testing.T) {
			gs := testdata.EmbedGoldens(t, c.golden)
			var in strings.Builder
			type want struct {
				vec []float32
				err string
			}
			var wants []want
			bad := []struct{ line, err string }{
				{"not json", "bad JSON"}, // the last line, without a newline
				{"", "empty line"},
				{`{"ids":[1]}`, "unknown field"},
				{`{"text":1}`, "bad JSON"},
				{`{"text":"a"} {"text":"b"}`, "more than one value"},
				{`{"text":"` + strings.Repeat("word ", 600) + `"}`, "more than the context length"},
			}
			for i, g := range gs {
				b, _ := json.Marshal(map[string]string{"text": g.Text})
				in.Write(b)
				in.WriteByte('\n')
				v := g.EmbeddingL2
				if c.raw {
					v = g.Embedding
				}
				wants = append(wants, want{vec: v})
				if i%7 == 0 {
					x := bad[(i/7)%len(bad)]
					in.WriteString(x.line + "\n")
					wants = append(wants, want{err: x.err})
				}
			}
			out, err := runCLI(t, strings.TrimSuffix(in.String(), "\n"), append([]string{"embed", "--model", modelPath}, c.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != len(wants) {
				t.Fatalf("%d output lines for %d input lines", len(lines), len(wants))
			}
			for i, w := range wants {
				var res struct {
					Embedding []float32 `json:"embedding"`
					Error     *string   `json:"error"`
				}
				if err := json.Unmarshal([]byte(lines[i]), &res); err != nil {
					t.Fatalf("line %d: %v: %s", i+1, err, lines[i])
				}
				if w.err != "" {
					if res.Error == nil || !strings.Contains(*res.Error, w.err) || res.Embedding != nil {
						t.Errorf("line %d: %s, want an error mentioning %q", i+1, lines[i], w.err)
					}
					continue
				}
				if res.Error != nil || len(res.Embedding) != len(w.vec) {
					t.Fatalf("line %d: %.200s, want %d floats", i+1, lines[i], len(w.vec))
				}
				if c := testdata.Cosine(res.Embedding, w.vec); c < 0.9999 {
					t.Errorf("line %d: cosine %g", i+1, c)
				}
				for d := range w.vec {
					if math.Abs(float64(res.Embedding[d]-w.vec[d])) > 1e-2*max(1, math.Abs(float64(w.vec[d]))) {
						t.Fatalf("line %d: element %d is %g, want %g", i+1, d, res.Embedding[d], w.vec[d])
					}
				}
			}
		})
	}
}

func TestEmbedCommandErrors(t *testing.T) {
	bert := testdata.Path(t, "models", "bert-F16.gguf")
	qwen := testdata.Path(t, "models", "qwen3-F16.gguf")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"embed"}, "--model is required"},
		{[]string{"embed", "--model", bert, "--pooling", "max"}, "want mean, cls or last"},
		{[]string{"embed", "--model", bert, "--pooling", "none"}, "want mean, cls or last"},
		{[]string{"embed", "--model", bert, "--batch", "0"}, "--batch"},
		{[]string{"embed", "--model", qwen}, "names no pooling"},
	} {
		if out, err := runCLI(t, `{"text":"x"}`, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want it to mention %q (output %q)", c.args, err, c.want, out)
		}
	}
	// A decoder with last pooling: the empty text has no tokens there.
	out, err := runCLI(t, "{\"text\":\"\"}\n{\"text\":\"hello\"}\n", "embed", "--model", qwen, "--pooling", "last")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"error":"the text has no tokens"`) || !strings.HasPrefix(lines[1], `{"embedding":[`) {
		t.Fatalf("output:\n%s", out)
	}
}

func TestTokenizeWordPiece(t *testing.T) {
	out, err := runCLI(t, `{"text":"Hello world, café 中文"}`, "tokenize", "--model", testdata.Path(t, "models", "nomicbert-F16.gguf"), "--add-special")
	if err != nil {
		t.Fatal(err)
	}
	if want := `"ids":[101,511,438,115,144,186,191,190,174,175,102]`; !strings.Contains(out, want) {
		t.Fatalf("output %s lacks %s", out, want)
	}
}

func TestReadLine(t *testing.T) {
	br := bufio.NewReaderSize(strings.NewReader("short\r\n"+strings.Repeat("x", 40)+"\n\nok\n"+strings.Repeat("y", 40)), 16)
	for i, want := range []struct {
		line    string
		tooLong bool
		eof     bool
	}{
		{"short", false, false}, {"", true, false}, {"", false, false}, {"ok", false, false}, {"", true, true},
	} {
		line, err := readLine(br, 10)
		if string(line) != want.line || errors.Is(err, errLineTooLong) != want.tooLong || errors.Is(err, io.EOF) != want.eof {
			t.Fatalf("line %d: %q, %v; want %q, too long %v, EOF %v", i, line, err, want.line, want.tooLong, want.eof)
		}
	}
	if line, err := readLine(br, 10); line != nil || !errors.Is(err, io.EOF) {
		t.Fatalf("after the end: %q, %v", line, err)
	}
}

// FuzzEmbedLines feeds arbitrary input to the embed filter: one output
// line per input line, each an embedding of the model's width or an error.
func FuzzEmbedLines(f *testing.F) {
	for _, s := range []string{"", "\n", `{"text":"hi"}`, "{\"text\":\"a\"}\n\nx\n{\"text\":\"\\u00e9 \\t\"}\r\n", `{"text":null}`, `[1,2]`, "\xff\n{}"} {
		f.Add(s)
	}
	path := testdata.Path(f, "models", "bert-F16.gguf")
	mf := modelFlags{path: path, threads: 1, ctx: 16, kvType: "f32"}
	gf, m, err := mf.open()
	if err != nil {
		f.Fatal(err)
	}
	defer gf.Close()
	defer m.Close()
	tok, err := tokenizer.FromGGUF(gf)
	if err != nil {
		f.Fatal(err)
	}
	e := &embedder{m: m, tok: tok, opts: model.EmbedOptions{Normalize: true}, batch: 3}
	f.Fuzz(func(t *testing.T, in string) {
		var out bytes.Buffer
		if err := e.run(context.Background(), strings.NewReader(in), &out); err != nil {
			t.Fatal(err)
		}
		want := strings.Count(in, "\n")
		if in != "" && !strings.HasSuffix(in, "\n") {
			want++
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if out.Len() == 0 {
			lines = nil
		}
		if len(lines) != want {
			t.Fatalf("%d output lines for %d input lines: %q", len(lines), want, out.String())
		}
		for _, l := range lines {
			var res struct {
				Embedding []float32 `json:"embedding"`
				Error     string    `json:"error"`
			}
			if err := json.Unmarshal([]byte(l), &res); err != nil {
				t.Fatalf("%v: %s", err, l)
			}
			if (res.Error == "") == (len(res.Embedding) == 0) || (res.Error == "" && len(res.Embedding) != m.Config().Embed) {
				t.Fatalf("bad output line %s", l)
			}
		}
	})
}
