package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"reflect"

	"github.com/raym33/ainative/internal/atomicfile"
	"github.com/raym33/ainative/internal/tensor"
)

// Builder assembles a GGUF file: metadata in the order set, then tensors in
// the order added. The output is GGUF version 3, which llama.cpp reads.
type Builder struct {
	kv      []KV
	kvIndex map[string]int
	tensors []pendingTensor
	names   map[string]bool
}

type pendingTensor struct {
	info  TensorInfo
	write func(io.Writer) error
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	return &Builder{kvIndex: map[string]int{}, names: map[string]bool{}}
}

// Set sets metadata key to x, converted with ValueOf. Setting a key again
// replaces its value in place.
func (b *Builder) Set(key string, x any) error {
	v, err := ValueOf(x)
	if err != nil {
		return fmt.Errorf("gguf: metadata key %q: %w", key, err)
	}
	if key == "general.alignment" {
		a, ok := v.v.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("gguf: general.alignment must be a uint32 power of two, got %v", x)
		}
	}
	if i, ok := b.kvIndex[key]; ok {
		b.kv[i].Value = v
		return nil
	}
	b.kvIndex[key] = len(b.kv)
	b.kv = append(b.kv, KV{key, v})
	return nil
}

// AddTensor adds a tensor whose data is held in memory.
func (b *Builder) AddTensor(name string, typ tensor.Type, dims []uint64, data []byte) error {
	return b.AddTensorFunc(name, typ, dims, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}, int64(len(data)))
}

// AddTensorFunc adds a tensor whose data write produces when the file is
// written, so large models can be generated without holding them in
// memory. size is checked against the shape, and write must produce
// exactly that many bytes.
func (b *Builder) AddTensorFunc(name string, typ tensor.Type, dims []uint64, write func(io.Writer) error, size int64) error {
	if b.names[name] {
		return fmt.Errorf("gguf: duplicate tensor %q", name)
	}
	if len(dims) == 0 || len(dims) > maxDims {
		return fmt.Errorf("gguf: tensor %q has %d dimensions (want 1 to %d)", name, len(dims), maxDims)
	}
	want, err := typ.Bytes(dims)
	if err != nil {
		return fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	if size != want {
		return fmt.Errorf("gguf: tensor %q: %d bytes of data for a %s tensor of shape %v, want %d", name, size, typ, dims, want)
	}
	b.names[name] = true
	info := TensorInfo{Name: name, Type: typ, Dims: append([]uint64(nil), dims...), Size: size}
	b.tensors = append(b.tensors, pendingTensor{info: info, write: write})
	return nil
}

func (b *Builder) alignment() int64 {
	if i, ok := b.kvIndex["general.alignment"]; ok {
		return int64(b.kv[i].Value.v.(uint32))
	}
	return DefaultAlignment
}

// WriteTo writes the file to w.
func (b *Builder) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: bufio.NewWriterSize(w, 1<<20)}
	e := &encoder{w: cw}
	align := b.alignment()

	e.raw([]byte(Magic))
	e.u32(3)
	e.u64(uint64(len(b.tensors)))
	e.u64(uint64(len(b.kv)))
	for _, kv := range b.kv {
		e.str(kv.Key)
		e.u32(uint32(kv.Value.Type))
		e.value(kv.Value)
	}
	var offset int64
	for i := range b.tensors {
		t := &b.tensors[i].info
		t.Offset = uint64(offset)
		e.str(t.Name)
		e.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			e.u64(d)
		}
		e.u32(uint32(t.Type))
		e.u64(t.Offset)
		offset = alignUp(offset+t.Size, align)
	}
	if e.err != nil {
		return cw.n, e.err
	}
	if len(b.tensors) > 0 {
		// Like llama.cpp, a file without tensors ends right after its header.
		e.pad(align)
	}
	for _, t := range b.tensors {
		start := cw.n
		if err := t.write(cw); err != nil {
			return cw.n, fmt.Errorf("gguf: writing tensor %q: %w", t.info.Name, err)
		}
		if got := cw.n - start; got != t.info.Size {
			return cw.n, fmt.Errorf("gguf: tensor %q: wrote %d bytes, want %d", t.info.Name, got, t.info.Size)
		}
		e.pad(align)
	}
	if e.err != nil {
		return cw.n, e.err
	}
	return cw.n, cw.w.(*bufio.Writer).Flush()
}

// WriteFile writes the file atomically (see package atomicfile): a crash
// leaves the old file or the new one, never half of one.
func (b *Builder) WriteFile(path string) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := b.WriteTo(w)
		return err
	})
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// encoder writes little-endian GGUF primitives and keeps the first error.
type encoder struct {
	w   *countingWriter
	err error
	buf [8]byte
}

func (e *encoder) raw(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

func (e *encoder) u8(v uint8)   { e.raw([]byte{v}) }
func (e *encoder) u16(v uint16) { binary.LittleEndian.PutUint16(e.buf[:], v); e.raw(e.buf[:2]) }
func (e *encoder) u32(v uint32) { binary.LittleEndian.PutUint32(e.buf[:], v); e.raw(e.buf[:4]) }
func (e *encoder) u64(v uint64) { binary.LittleEndian.PutUint64(e.buf[:], v); e.raw(e.buf[:8]) }
func (e *encoder) str(s string) { e.u64(uint64(len(s))); e.raw([]byte(s)) }

func (e *encoder) pad(align int64) {
	if n := alignUp(e.w.n, align) - e.w.n; n > 0 {
		e.raw(make([]byte, n))
	}
}

func (e *encoder) value(v Value) {
	if a, ok := v.v.(Array); ok {
		e.array(a)
		return
	}
	e.scalar(v.v)
}

func (e *encoder) scalar(x any) {
	switch x := x.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case bool:
		if x {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	case string:
		e.str(x)
	default:
		if e.err == nil {
			e.err = fmt.Errorf("gguf: cannot encode %T", x)
		}
	}
}

func (e *encoder) array(a Array) {
	e.u32(uint32(a.Type))
	e.u64(uint64(a.Len()))
	if s, ok := a.v.([]Array); ok {
		for _, sub := range s {
			e.array(sub)
		}
		return
	}
	if a.v == nil {
		return
	}
	rv := reflect.ValueOf(a.v)
	for i := 0; i < rv.Len(); i++ {
		e.scalar(rv.Index(i).Interface())
	}
}

// Rebuild returns a Builder holding f's metadata (the keys keep accepts;
// nil keeps all) and its tensors, whose data still points into f: the
// start of tools that edit a model's metadata. f must stay open until the
// Builder is written.
func (f *File) Rebuild(keep func(key string) bool) (*Builder, error) {
	b := NewBuilder()
	for _, kv := range f.Metadata {
		if keep != nil && !keep(kv.Key) {
			continue
		}
		if err := b.Set(kv.Key, kv.Value); err != nil {
			return nil, err
		}
	}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if err := b.AddTensor(t.Name, t.Type, t.Dims, f.TensorData(t)); err != nil {
			return nil, err
		}
	}
	return b, nil
}
