//go:build linux || darwin

package model

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model/synth"
)

// TestDecodeReadsOnlyChosenExperts makes the pages of the experts a
// token does not choose unreadable (mprotect) and decodes it again: the
// pass succeeds, with the same logits. Reading an unchosen expert would
// be a memory fault, which the pass reports as an error.
func TestDecodeReadsOnlyChosenExperts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "moe.gguf")
	sm, err := synth.New(synth.Options{Shape: "qwen3moe-tiny", Type: "Q8_0", Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	if err := sm.WriteFile(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := Load(f, Options{Threads: 2, ContextLength: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := m.Config()
	chosen := make([][]int32, c.Layers)
	m.routeHook = func(il int, sel []int32, _ []float32) { chosen[il] = slices.Clone(sel) }
	tokens := []int32{17, 300}
	want, err := m.Forward(context.Background(), m.NewSequence(), tokens, OutputAll, nil)
	if err != nil {
		t.Fatal(err)
	}

	page := os.Getpagesize()
	var locked [][]byte
	defer func() {
		for _, b := range locked {
			if err := unix.Mprotect(b, unix.PROT_READ); err != nil {
				t.Error(err)
			}
		}
	}()
	protected := 0
	for il := range m.layers {
		l := m.layers[il].moe
		for e := range c.Experts {
			if slices.Contains(chosen[il], int32(e)) {
				continue
			}
			for _, w := range [][]byte{l.gate[e].Data, l.up[e].Data, l.down[e].Data} {
				// The whole pages inside the expert's bytes.
				start := uintptr(unsafe.Pointer(unsafe.SliceData(w)))
				lo := (int(start) + page - 1) / page * page
				hi := (int(start) + len(w)) / page * page
				if hi <= lo {
					continue
				}
				b := w[lo-int(start) : hi-int(start)]
				if err := unix.Mprotect(b, unix.PROT_NONE); err != nil {
					t.Fatal(err)
				}
				locked = append(locked, b)
				protected += len(b)
			}
		}
	}
	if protected == 0 {
		t.Fatal("no expert page to protect: every expert was chosen or experts are smaller than a page")
	}
	m.routeHook = nil
	got, err := m.Forward(context.Background(), m.NewSequence(), tokens, OutputAll, nil)
	if err != nil {
		t.Fatalf("decode with %d bytes of unchosen experts unreadable: %v", protected, err)
	}
	if !slices.Equal(got, want) {
		t.Fatal("logits changed with unchosen experts unreadable")
	}
	t.Logf("%d bytes of unchosen experts were unreadable", protected)

	// The control: a chosen expert made unreadable is a fault.
	w := m.layers[0].moe.up[chosen[0][0]].Data
	start := int(uintptr(unsafe.Pointer(unsafe.SliceData(w))))
	lo := (start + page - 1) / page * page
	if lo+page > start+len(w) {
		t.Fatal("the chosen expert has no whole page")
	}
	b := w[lo-start : lo-start+page]
	if err := unix.Mprotect(b, unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	locked = append(locked, b)
	if _, err := m.Forward(context.Background(), m.NewSequence(), tokens, OutputAll, nil); err == nil || !strings.Contains(err.Error(), "memory fault") {
		t.Fatalf("decode with a chosen expert unreadable: error %v, want a memory fault", err)
	}
}
