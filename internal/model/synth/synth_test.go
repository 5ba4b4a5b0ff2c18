package synth_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/model/synth"
	"github.com/raym33/ainative/internal/tensor"
)

func build(t *testing.T, o synth.Options) []byte {
	t.Helper()
	m, err := synth.New(o)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestTinyEveryArch(t *testing.T) {
	for _, arch := range synth.Archs {
		t.Run(arch, func(t *testing.T) {
			data := build(t, synth.Options{Arch: arch, Shape: "tiny", Type: "Q8_0", Seed: 1})
			f, err := gguf.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			m, err := model.Load(f, model.Options{Threads: 2, ContextLength: 64, KVType: tensor.F16})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			seq := m.NewSequence()
			var got []int32
			_, err = m.Generate(context.Background(), seq, []int32{1, 2, 3}, 5,
				func(l []float32) int32 { return int32(argmax(l)) },
				func(tok int32) bool { got = append(got, tok); return false })
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %v", arch, got)
		})
	}
}

func argmax(x []float32) int {
	b := 0
	for i, v := range x {
		if v > x[b] {
			b = i
		}
	}
	return b
}
