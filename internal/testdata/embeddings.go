package testdata

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"testing"
)

// EmbedGolden is one line of an embeddings golden, embeddings/*.jsonl
// (see the fixtures' README-moe-embeddings.md): a text, llama.cpp's
// token ids for it and its embedding, raw and L2-normalized.
type EmbedGolden struct {
	Text        string    `json:"text"`
	IDs         []int32   `json:"ids"`
	Embedding   []float32 `json:"embedding"`
	EmbeddingL2 []float32 `json:"embedding_l2"`
}

// EmbedGoldens reads the embeddings golden name, or skips (fails under
// CI=true) t when the fixtures cannot be found.
func EmbedGoldens(t testing.TB, name string) []EmbedGolden {
	t.Helper()
	f, err := os.Open(Path(t, "embeddings", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var gs []EmbedGolden
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var g EmbedGolden
		if err := json.Unmarshal(sc.Bytes(), &g); err != nil {
			t.Fatal(err)
		}
		gs = append(gs, g)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return gs
}

// Cosine is the cosine similarity of a and b, computed in float64.
func Cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}
