package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/testdata"
)

// vocabs are the real vocabularies in testdata/tokenizers, and what
// llama.cpp made of them.
var vocabs = []struct {
	name  string // <name>-vocab.gguf, <name>.golden.jsonl
	model Model
	pre   string
}{
	{"llama3", BPE, "llama-bpe"},
	{"qwen3", BPE, "qwen2"},
	{"gemma2", SentencePiece, ""},
	{"llama2", SentencePiece, ""},
}

var (
	loadedMu sync.Mutex
	loaded   = map[string]*Tokenizer{}
)

// vocab loads a testdata vocabulary once per test binary.
func vocab(t testing.TB, name string) *Tokenizer {
	t.Helper()
	path := testdata.Path(t, "tokenizers", name+"-vocab.gguf")
	loadedMu.Lock()
	defer loadedMu.Unlock()
	if tk, ok := loaded[path]; ok {
		return tk
	}
	tk := mustLoad(t, path)
	loaded[path] = tk
	return tk
}

func mustLoad(t testing.TB, path string) *Tokenizer {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tk, err := FromGGUF(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tk
}

type goldenLine struct {
	Text      string  `json:"text"`
	IDs       []int32 `json:"ids"`
	IDsBOS    []int32 `json:"ids_bos"`
	Roundtrip bool    `json:"roundtrip"`
	Detok     *string `json:"detok"`
}

func readGolden(t testing.TB, name string) []goldenLine {
	t.Helper()
	fd, err := os.Open(testdata.Path(t, "tokenizers", name+".golden.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	var lines []goldenLine
	sc := bufio.NewScanner(fd)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var g goldenLine
		if err := json.Unmarshal(sc.Bytes(), &g); err != nil {
			t.Fatalf("%s.golden.jsonl line %d: %v", name, len(lines)+1, err)
		}
		lines = append(lines, g)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestGolden is the judge: llama.cpp's ids for every corpus line, with and
// without BOS, and its detokenized text, for each real vocabulary.
func TestGolden(t *testing.T) {
	for _, v := range vocabs {
		t.Run(v.name, func(t *testing.T) {
			tk := vocab(t, v.name)
			if tk.Model() != v.model || tk.Pre() != v.pre {
				t.Errorf("model %v pre %q, want %v %q", tk.Model(), tk.Pre(), v.model, v.pre)
			}
			lines := readGolden(t, v.name)
			if len(lines) != 335 {
				t.Errorf("%d golden lines, want 335", len(lines))
			}
			var idsOK, bosOK, detokOK int
			for i, g := range lines {
				got := tk.Encode(g.Text, false, false)
				if slices.Equal(got, g.IDs) {
					idsOK++
				} else {
					t.Errorf("line %d %q:\n got %v\nwant %v", i+1, g.Text, got, g.IDs)
				}
				if got := tk.Encode(g.Text, true, false); slices.Equal(got, g.IDsBOS) {
					bosOK++
				} else {
					t.Errorf("line %d %q with BOS:\n got %v\nwant %v", i+1, g.Text, got, g.IDsBOS)
				}
				want := g.Text
				if !g.Roundtrip {
					if g.Detok == nil {
						t.Fatalf("line %d: roundtrip false without detok", i+1)
					}
					want = *g.Detok
				}
				if got := tk.Decode(g.IDs); got == want {
					detokOK++
				} else {
					t.Errorf("line %d: Decode = %q, want %q", i+1, got, want)
				}
				if got := streamDecode(tk, g.IDs); got != want {
					t.Errorf("line %d: streaming decode = %q, want %q", i+1, got, want)
				}
			}
			t.Logf("%s: ids %d/%d, ids_bos %d/%d, detok %d/%d", v.name, idsOK, len(lines), bosOK, len(lines), detokOK, len(lines))
		})
	}
}

// streamDecode decodes ids one at a time through a Decoder.
func streamDecode(tk *Tokenizer, ids []int32) string {
	d := tk.NewDecoder()
	var s string
	for _, id := range ids {
		s += d.Add(id)
	}
	return s + d.Flush()
}

// TestTinyModels loads the 512-token vocabularies of the tiny models.
func TestTinyModels(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(testdata.Dir(t), "models", "*.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no models in testdata/models")
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			tk := mustLoad(t, p)
			if tk.VocabSize() != 512 {
				t.Errorf("VocabSize = %d, want 512", tk.VocabSize())
			}
			ids := tk.Encode("Hello world", true, false)
			for _, id := range ids {
				if id < 0 || int(id) >= tk.VocabSize() {
					t.Fatalf("Encode gave id %d out of range", id)
				}
			}
			if len(ids) == 0 {
				t.Fatal("Encode gave no ids")
			}
			if tk.Model() == WordPiece {
				return // encoders generate nothing: no EOS
			}
			if eos, ok := tk.EOS(); !ok || !tk.IsEOG(eos) {
				t.Errorf("EOS %d, %v: not an end-of-generation token", eos, ok)
			}
		})
	}
}
