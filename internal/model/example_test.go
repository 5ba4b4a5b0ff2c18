package model_test

import (
	"bytes"
	"context"
	"fmt"
	"log"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/model/synth"
)

// Two conversations share a system prompt: the second forks the first's
// cached prefix instead of computing it again, then both decode in one
// batch a step.
func ExampleModel_Decode() {
	// A tiny synthesized model; use gguf.Open for a real one.
	sm, err := synth.New(synth.Options{Arch: "qwen2", Shape: "tiny", Type: "Q8_0", Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := sm.WriteTo(&buf); err != nil {
		log.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	m, err := model.Load(f, model.Options{ContextLength: 256, Threads: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	c, err := m.NewCache(model.CacheOptions{MaxSeqs: 4, Cells: 512})
	if err != nil {
		log.Fatal(err)
	}
	V := m.Config().Vocab
	argmax := func(row []float32) int32 {
		best := 0
		for i, v := range row {
			if v > row[best] {
				best = i
			}
		}
		return int32(best)
	}

	// Sequence 0: a system prompt and a question, logits for the last.
	system := []int32{10, 11, 12, 13, 14, 15, 16, 17}
	var b model.Batch
	for i, tok := range append(system, 40, 41) {
		b.Add(tok, i, 0, i == len(system)+1)
	}
	logits, err := m.Decode(ctx, c, &b, nil)
	if err != nil {
		log.Fatal(err)
	}
	next0 := argmax(logits)

	// Sequence 1 starts from the cached system prompt.
	prompt1 := append(append([]int32{}, system...), 50, 51, 52)
	src, n := c.LongestPrefix(prompt1)
	fmt.Println("cached prefix:", n, "tokens of sequence", src)
	if err := c.Fork(src, 1, n); err != nil {
		log.Fatal(err)
	}

	// One batch: sequence 0's next token and sequence 1's new prompt
	// tokens; outputs come in batch order of the marked tokens.
	b.Reset()
	b.Add(next0, c.SeqLen(0), 0, true)
	for i, tok := range prompt1[n:] {
		b.Add(tok, n+i, 1, i == len(prompt1)-n-1)
	}
	if logits, err = m.Decode(ctx, c, &b, logits[:0]); err != nil {
		log.Fatal(err)
	}
	fmt.Println("rows of logits:", len(logits)/V)
	fmt.Println("positions:", c.SeqLen(0), c.SeqLen(1))

	// Sequence 0 leaves: its cells not shared with sequence 1 are free.
	if err := c.Remove(0, 0); err != nil {
		log.Fatal(err)
	}
	fmt.Println("free cells:", c.FreeCells(), "of", c.Cells())
	// Output:
	// cached prefix: 8 tokens of sequence 0
	// rows of logits: 2
	// positions: 11 11
	// free cells: 480 of 512
}
