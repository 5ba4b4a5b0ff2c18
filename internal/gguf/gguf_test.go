package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/tensor"
	"github.com/raym33/ainative/internal/testdata"
)

// sampleBuilder returns a builder using every value type, a nested array
// and tensors of a plain and a block-quantized type.
func sampleBuilder(t testing.TB) *Builder {
	t.Helper()
	b := NewBuilder()
	nested, _ := ArrayOf([]Array{mustArray([]int32{1, 2}), mustArray([]int32{})})
	values := []struct {
		key string
		v   any
	}{
		{"general.architecture", "llama"},
		{"u8", uint8(200)}, {"i8", int8(-5)}, {"u16", uint16(65000)}, {"i16", int16(-3000)},
		{"u32", uint32(4000000000)}, {"i32", int32(-7)}, {"f32", float32(1.5)}, {"bool", true},
		{"u64", uint64(1) << 60}, {"i64", int64(-1) << 50}, {"f64", math.Pi},
		{"empty", ""}, {"unicode", "▁héllo\x00world"},
		{"a.u8", []uint8{1, 2}}, {"a.i8", []int8{-1}}, {"a.u16", []uint16{9}}, {"a.i16", []int16{-9}},
		{"a.u32", []uint32{7, 8}}, {"a.i32", []int32{-1, 0, 1}}, {"a.f32", []float32{0.5, -2}},
		{"a.bool", []bool{true, false}}, {"a.str", []string{"a", "", "ĠĠ"}}, {"a.u64", []uint64{1}},
		{"a.i64", []int64{-2}}, {"a.f64", []float64{2.5}}, {"a.empty", []string{}},
		{"a.nested", nested},
	}
	for _, kv := range values {
		if err := b.Set(kv.key, kv.v); err != nil {
			t.Fatal(err)
		}
	}
	f32 := make([]byte, 4*3*2)
	for i := range f32 {
		f32[i] = byte(i)
	}
	if err := b.AddTensor("plain", tensor.F32, []uint64{3, 2}, f32); err != nil {
		t.Fatal(err)
	}
	q8 := bytes.Repeat([]byte{7}, 2*34)
	if err := b.AddTensor("blk.0.q", tensor.Q8_0, []uint64{64}, q8); err != nil {
		t.Fatal(err)
	}
	return b
}

func mustArray(x any) Array {
	a, err := ArrayOf(x)
	if err != nil {
		panic(err)
	}
	return a
}

func encode(t testing.TB, b *Builder) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := b.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo reported %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	b := sampleBuilder(t)
	data := encode(t, b)
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 3 || f.Alignment != DefaultAlignment {
		t.Errorf("version %d alignment %d", f.Version, f.Alignment)
	}
	if len(f.Metadata) != len(b.kv) {
		t.Fatalf("got %d keys, want %d", len(f.Metadata), len(b.kv))
	}
	for i, kv := range b.kv {
		got := f.Metadata[i]
		if got.Key != kv.Key || got.Value.Type != kv.Value.Type || !reflect.DeepEqual(got.Value.Any(), kv.Value.Any()) {
			t.Errorf("key %d: got %s=%v (%s), want %s=%v (%s)", i, got.Key, got.Value, got.Value.Type, kv.Key, kv.Value, kv.Value.Type)
		}
	}
	for _, want := range b.tensors {
		ti, ok := f.Tensor(want.info.Name)
		if !ok {
			t.Fatalf("tensor %q missing", want.info.Name)
		}
		if ti.Type != want.info.Type || !reflect.DeepEqual(ti.Dims, want.info.Dims) || ti.Size != want.info.Size {
			t.Errorf("tensor %q: got %+v want %+v", ti.Name, *ti, want.info)
		}
		if (f.DataOffset+int64(ti.Offset))%int64(f.Alignment) != 0 {
			t.Errorf("tensor %q data at %d is not aligned", ti.Name, f.DataOffset+int64(ti.Offset))
		}
	}
	if got := f.TensorData(&f.Tensors[0]); got[5] != 5 || len(got) != 24 {
		t.Errorf("plain tensor data %v", got)
	}
}

func TestAccessors(t *testing.T) {
	f, err := Parse(encode(t, sampleBuilder(t)))
	if err != nil {
		t.Fatal(err)
	}
	if a, err := f.Architecture(); err != nil || a != "llama" {
		t.Errorf("Architecture = %q, %v", a, err)
	}
	if n, err := f.Uint("u32"); err != nil || n != 4000000000 {
		t.Errorf("Uint(u32) = %d, %v", n, err)
	}
	if n, err := f.Int("i8"); err != nil || n != -5 {
		t.Errorf("Int(i8) = %d, %v", n, err)
	}
	if _, err := f.Uint("i8"); err == nil || !strings.Contains(err.Error(), "non-negative") {
		t.Errorf("Uint of a negative: %v", err)
	}
	if x, err := f.Float("f32"); err != nil || x != 1.5 {
		t.Errorf("Float(f32) = %v, %v", x, err)
	}
	if x, err := f.Float("u16"); err != nil || x != 65000 {
		t.Errorf("Float(u16) = %v, %v", x, err)
	}
	if s, err := f.Strings("a.str"); err != nil || len(s) != 3 || s[2] != "ĠĠ" {
		t.Errorf("Strings = %q, %v", s, err)
	}
	if s, err := f.Ints("a.u32"); err != nil || !reflect.DeepEqual(s, []int64{7, 8}) {
		t.Errorf("Ints(a.u32) = %v, %v", s, err)
	}
	if s, err := f.Ints("u8"); err != nil || !reflect.DeepEqual(s, []int64{200}) {
		t.Errorf("Ints(u8) = %v, %v", s, err)
	}
	if _, err := f.String("nope"); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing key error %v", err)
	}
	if _, err := f.String("u8"); err == nil || !strings.Contains(err.Error(), `"u8" is uint8, want string`) {
		t.Errorf("mistyped key error %v", err)
	}
	if _, err := f.Float32s("a.i32"); err == nil || !strings.Contains(err.Error(), "array of int32") {
		t.Errorf("mistyped array error %v", err)
	}
	if v, err := f.OptUint("nope", 42); err != nil || v != 42 {
		t.Errorf("OptUint default = %d, %v", v, err)
	}
	if _, err := f.OptUint("empty", 42); err == nil {
		t.Error("OptUint of a string: no error")
	}
}

func TestCustomAlignment(t *testing.T) {
	b := sampleBuilder(t)
	if err := b.Set("general.alignment", uint32(64)); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(encode(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if f.Alignment != 64 || f.DataOffset%64 != 0 {
		t.Fatalf("alignment %d, data offset %d", f.Alignment, f.DataOffset)
	}
	for _, ti := range f.Tensors {
		if ti.Offset%64 != 0 {
			t.Errorf("tensor %q at %d", ti.Name, ti.Offset)
		}
	}
	if err := b.Set("general.alignment", uint32(48)); err == nil {
		t.Error("alignment 48 accepted")
	}
}

func TestBuilderErrors(t *testing.T) {
	b := NewBuilder()
	if err := b.Set("k", struct{}{}); err == nil {
		t.Error("struct value accepted")
	}
	if err := b.AddTensor("t", tensor.Q8_0, []uint64{33}, make([]byte, 34)); err == nil {
		t.Error("row of 33 Q8_0 elements accepted")
	}
	if err := b.AddTensor("t", tensor.F32, []uint64{2}, make([]byte, 4)); err == nil {
		t.Error("wrong data size accepted")
	}
	if err := b.AddTensor("t", tensor.F32, []uint64{1}, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	if err := b.AddTensor("t", tensor.F32, []uint64{1}, make([]byte, 4)); err == nil {
		t.Error("duplicate tensor accepted")
	}
	short := NewBuilder()
	short.AddTensorFunc("t", tensor.F32, []uint64{2}, func(w io.Writer) error {
		_, err := w.Write(make([]byte, 4))
		return err
	}, 8)
	if _, err := short.WriteTo(io.Discard); err == nil || !strings.Contains(err.Error(), "wrote 4 bytes, want 8") {
		t.Errorf("short tensor write: %v", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	if err := sampleBuilder(t).WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Path != path || len(f.Tensors) != 2 {
		t.Errorf("reopened: path %q, %d tensors", f.Path, len(f.Tensors))
	}
}

// hostile builds files that are wrong in one specific way.
func hostile(t testing.TB) map[string][]byte {
	valid := encode(t, sampleBuilder(t))
	le := binary.LittleEndian
	header := func(version uint32, nTensors, nKV uint64) []byte {
		b := []byte(Magic)
		b = le.AppendUint32(b, version)
		b = le.AppendUint64(b, nTensors)
		return le.AppendUint64(b, nKV)
	}
	str := func(b []byte, s string) []byte { return append(le.AppendUint64(b, uint64(len(s))), s...) }
	kv := func(typ ValueType, payload ...byte) []byte {
		b := str(header(3, 0, 1), "k")
		return append(le.AppendUint32(b, uint32(typ)), payload...)
	}
	tensorFile := func(dims []uint64, typ tensor.Type, offset uint64) []byte {
		b := str(header(3, 1, 0), "t")
		b = le.AppendUint32(b, uint32(len(dims)))
		for _, d := range dims {
			b = le.AppendUint64(b, d)
		}
		b = le.AppendUint32(b, uint32(typ))
		b = le.AppendUint64(b, offset)
		return append(b, make([]byte, 64)...)
	}
	bigArray := le.AppendUint32(nil, uint32(TypeUint64))
	bigArray = le.AppendUint64(bigArray, 1<<60)
	deep := []byte{}
	for range 10 {
		deep = le.AppendUint32(deep, uint32(TypeArray))
		deep = le.AppendUint64(deep, 1)
	}
	return map[string][]byte{
		"empty":             nil,
		"wrong magic":       append([]byte("GGML"), valid[4:]...),
		"version 1":         header(1, 0, 0),
		"version 4":         header(4, 0, 0),
		"big-endian":        header(3<<24, 0, 0),
		"absurd tensors":    header(3, 1<<62, 0),
		"absurd kv count":   header(3, 0, 1<<62),
		"absurd key length": append(le.AppendUint64(header(3, 0, 1), 1<<62), make([]byte, 16)...),
		"absurd array":      kv(TypeArray, bigArray...),
		"unknown value":     kv(ValueType(99), 1, 2, 3, 4),
		"bad bool":          kv(TypeBool, 7),
		"deep nesting":      kv(TypeArray, deep...),
		"truncated value":   kv(TypeUint64, 1, 2),
		"offset past end":   tensorFile([]uint64{4}, tensor.F32, 1<<40),
		"size past end":     tensorFile([]uint64{1 << 20}, tensor.F32, 0),
		"overflowing shape": tensorFile([]uint64{1 << 40, 1 << 40, 1 << 40}, tensor.F32, 0),
		"unknown type":      tensorFile([]uint64{4}, tensor.Type(77), 0),
		"partial block":     tensorFile([]uint64{33}, tensor.Q8_0, 0),
		"zero dims":         tensorFile(nil, tensor.F32, 0),
		"five dims":         tensorFile([]uint64{1, 1, 1, 1, 1}, tensor.F32, 0),
		"misaligned":        tensorFile([]uint64{1}, tensor.F32, 4),
	}
}

func TestBadInput(t *testing.T) {
	wantWords := map[string]string{
		"empty": "truncated", "wrong magic": "bad magic", "version 1": "version 1",
		"version 4": "version 4", "big-endian": "big-endian", "absurd tensors": "tensor count",
		"absurd kv count": "metadata count", "absurd key length": "key #0 length",
		"absurd array": "length of array", "unknown value": "unknown value type",
		"bad bool": "bool", "deep nesting": "nested", "truncated value": "truncated",
		"offset past end": "past the end", "size past end": "past the end",
		"overflowing shape": "overflows", "unknown type": "unknown type 77",
		"partial block": "block size", "zero dims": "0 dimensions", "five dims": "5 dimensions",
		"misaligned": "alignment",
	}
	for name, data := range hostile(t) {
		t.Run(name, func(t *testing.T) {
			f, err := Parse(data)
			if err == nil {
				t.Fatalf("parsed: %+v", f)
			}
			if !strings.Contains(err.Error(), wantWords[name]) {
				t.Errorf("error %q does not mention %q", err, wantWords[name])
			}
		})
	}
}

func TestTruncatedEverywhere(t *testing.T) {
	valid := encode(t, sampleBuilder(t))
	f, err := Parse(valid)
	if err != nil {
		t.Fatal(err)
	}
	last := f.Tensors[len(f.Tensors)-1]
	end := int(f.DataOffset) + int(last.Offset) + int(last.Size) // the rest is padding
	for n := 0; n < end; n++ {
		if _, err := Parse(valid[:n]); err == nil {
			t.Fatalf("file cut at %d of %d bytes parsed without error", n, len(valid))
		}
	}
}

// TestBoundedAllocation checks that claims of huge arrays and counts are
// rejected before memory is committed to them.
func TestBoundedAllocation(t *testing.T) {
	for name, data := range hostile(t) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		Parse(data)
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > uint64(8*len(data)+64<<10) {
			t.Errorf("%s: parsing %d bytes allocated %d", name, len(data), got)
		}
	}
}

// TestBoundedAllocationOfClaims checks that counts the file announces but
// does not hold (a metadata or tensor count, an array length, all within
// the file's size but followed by an entry that breaks at once) cost no
// memory: parsing allocates less than the file's size.
func TestBoundedAllocationOfClaims(t *testing.T) {
	le := binary.LittleEndian
	const size = 4 << 20
	header := func(nTensors, nKV uint64) []byte {
		b := le.AppendUint32([]byte(Magic), 3)
		b = le.AppendUint64(b, nTensors)
		return le.AppendUint64(b, nKV)
	}
	array := func(typ ValueType, n uint64) []byte {
		b := le.AppendUint64(header(0, 1), 1)
		b = append(b, 'k')
		b = le.AppendUint32(b, uint32(TypeArray))
		b = le.AppendUint32(b, uint32(typ))
		return le.AppendUint64(b, n)
	}
	absurd := le.AppendUint64(nil, 1<<62) // a length that breaks the first entry
	for name, data := range map[string][]byte{
		"metadata count": append(header(0, size/13), absurd...),
		"tensor count":   append(header(size/32, 0), absurd...),
		"string array":   append(array(TypeString, size/8), absurd...),
		"nested array":   append(array(TypeArray, size/12), 0xff, 0xff, 0xff, 0xff),
	} {
		data = append(data, make([]byte, size)...)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Parse(data)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatalf("%s: parsed", name)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > uint64(len(data)) {
			t.Errorf("%s: parsing %d bytes allocated %d (%v)", name, len(data), got, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(encode(f, sampleBuilder(f)))
	for _, data := range hostile(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data)
		if err != nil {
			return
		}
		for i := range g.Tensors {
			if got := g.TensorData(&g.Tensors[i]); int64(len(got)) != g.Tensors[i].Size {
				t.Fatalf("tensor %q: %d bytes, want %d", g.Tensors[i].Name, len(got), g.Tensors[i].Size)
			}
		}
		for _, kv := range g.Metadata {
			_ = kv.Value.String()
		}
	})
}

// TestFixtures opens every GGUF of the shared fixtures (written by
// llama.cpp's tools), and checks that writing the parsed file back gives
// the same bytes: our writer then produces exactly what llama.cpp reads.
func TestFixtures(t *testing.T) {
	dir := testdata.Dir(t)
	paths, _ := filepath.Glob(filepath.Join(dir, "models", "*.gguf"))
	vocabs, _ := filepath.Glob(filepath.Join(dir, "tokenizers", "*.gguf"))
	paths = append(paths, vocabs...)
	if len(paths) == 0 {
		t.Fatal("no GGUF fixtures found in " + dir)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			arch, err := f.Architecture()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Strings("tokenizer.ggml.tokens"); err != nil {
				t.Error(err)
			}
			isModel := strings.Contains(path, string(filepath.Separator)+"models"+string(filepath.Separator))
			if isModel {
				if len(f.Tensors) == 0 {
					t.Fatal("model without tensors")
				}
				if _, err := f.Uint(arch + ".block_count"); err != nil {
					t.Error(err)
				}
				// Every tensor's type is one the reader knows the layout
				// of (computing with it is the engine's business).
				for _, ti := range f.Tensors {
					if strings.HasPrefix(ti.Type.String(), "Type(") {
						t.Errorf("tensor %s has unknown type %s", ti.Name, ti.Type)
					}
				}
			}
			b, err := f.Rebuild(nil)
			if err != nil {
				t.Fatal(err)
			}
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := encode(t, b)
			if !bytes.Equal(got, orig) {
				i := 0
				for i < len(got) && i < len(orig) && got[i] == orig[i] {
					i++
				}
				t.Errorf("rewritten file differs at byte %d (lengths %d, %d)", i, len(got), len(orig))
			}
		})
	}
}

// BenchmarkOpenVocab opens the largest vocabulary fixture (256k strings):
// what loading a model's tokenizer costs before the tokenizer's own work.
func BenchmarkOpenVocab(b *testing.B) {
	path := testdata.Path(b, "tokenizers", "gemma2-vocab.gguf")
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
