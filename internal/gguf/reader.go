// Package gguf reads and writes GGUF, the file format of llama.cpp models:
// a header, typed key/value metadata, a table of tensor descriptions and
// the tensor data, aligned.
//
// Open memory-maps the file: tensor data is never copied into the heap, so
// a model costs page cache, shared by every process that maps it, rather
// than private memory. Parse reads from a byte slice and is what the fuzz
// target drives; every length and offset in the file is checked against
// the file's size before it is used, so a hostile file yields an error and
// never an allocation larger than the file itself.
package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"

	"github.com/raym33/ainative/internal/tensor"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment applies when general.alignment is absent.
const DefaultAlignment = 32

// maxDims is ggml's GGML_MAX_DIMS.
const maxDims = 4

// maxNesting bounds arrays of arrays, so a hostile file cannot recurse deeply.
const maxNesting = 4

// maxPrealloc caps the capacity reserved for a count read from the file
// before the entries it announces are read. The count is only known to fit
// the file's size, and a parsed entry takes several times the bytes of its
// encoding, so reserving for the count itself would let a small file claim
// a large allocation. Real files have tens of keys and at most a few
// thousand tensors; past the cap, append grows with what is really there.
const maxPrealloc = 1 << 12

// KV is one metadata entry.
type KV struct {
	Key   string
	Value Value
}

// TensorInfo describes one tensor of the file.
type TensorInfo struct {
	Name string
	Type tensor.Type
	// Dims is the shape in ggml order: Dims[0] is the number of elements
	// of a row (the fastest-varying dimension).
	Dims []uint64
	// Offset is the position of the data relative to the start of the
	// data section; Size is its length in bytes.
	Offset uint64
	Size   int64
}

// Elements is the number of elements of the tensor.
func (t *TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is a parsed GGUF file. Its metadata and tensor table are ordinary Go
// values; tensor data points into the file's memory (mapped by Open).
type File struct {
	Path      string // as given to Open; empty for Parse
	Version   uint32
	Metadata  []KV // in file order
	Tensors   []TensorInfo
	Alignment int
	// DataOffset is where the data section starts in the file.
	DataOffset int64

	data    []byte
	kv      map[string]int
	tensors map[string]int
	// parts are the files of a split model (OpenSplit), and partOf the
	// part holding each tensor's data; nil for a single file.
	parts  []*File
	partOf []int

	// The mapping is reference-counted: the opener holds one reference
	// (dropped by Close) and every user of tensor data, such as a loaded
	// model, holds its own (Acquire, Release), so that closing the file
	// while a model still computes from it cannot unmap under it.
	mu     sync.Mutex
	refs   int
	closed bool // the opener's reference is dropped
	unmap  func() error
}

// ErrClosed is returned by Acquire once the mapping is released.
var ErrClosed = errors.New("gguf: file is closed")

// Open memory-maps and parses the GGUF file at path. Close releases it.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	fi, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	mode := fi.Mode()
	switch {
	case mode.IsDir():
		return nil, fmt.Errorf("gguf: %s is a directory, not a model file", path)
	case mode&os.ModeCharDevice != 0:
		// /dev/zero, a terminal: no size, nothing a model could be in.
		return nil, fmt.Errorf("gguf: %s is a character device, not a model file", path)
	case !mode.IsRegular() && mode&os.ModeDevice == 0:
		return nil, fmt.Errorf("gguf: %s is not a regular file (%s)", path, mode.Type())
	}
	size := fi.Size()
	if mode&os.ModeDevice != 0 {
		// A block device (a model disk in the image) reports size 0.
		if size, err = fd.Seek(0, 2); err != nil {
			return nil, fmt.Errorf("gguf: %s: %w", path, err)
		}
	}
	if size < 4 {
		return nil, fmt.Errorf("gguf: %s: %w: the file is %d bytes long, too short to be a GGUF file", path, ErrFormat, size)
	}
	data, unmap, err := mapFile(fd, size)
	if err != nil {
		return nil, fmt.Errorf("gguf: map %s: %w", path, err)
	}
	f, err := Parse(data)
	if err != nil {
		unmap()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.Path = path
	f.unmap = unmap
	return f, nil
}

// Close drops the opener's reference to the mapping: the file is unmapped
// now if nothing else holds it, else when the last holder calls Release.
// Tensor data obtained without Acquire must not be used afterwards.
// Closing twice is harmless.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	return f.releaseLocked()
}

// Acquire takes a reference to the mapping, which then stays valid until
// the matching Release, whether or not Close is called in between. It
// fails with ErrClosed once the mapping is gone.
func (f *File) Acquire() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refs == 0 {
		return ErrClosed
	}
	f.refs++
	return nil
}

// Release drops a reference taken by Acquire; the last one unmaps.
func (f *File) Release() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refs == 0 || (f.refs == 1 && !f.closed) {
		// Only the opener's reference is left: an unmatched Release.
		return errors.New("gguf: Release without Acquire")
	}
	return f.releaseLocked()
}

func (f *File) releaseLocked() error {
	if f.refs == 0 {
		return nil
	}
	f.refs--
	if f.refs > 0 {
		return nil
	}
	var err error
	if f.parts != nil {
		err = closeAll(f.parts)
	}
	if f.unmap != nil {
		err = f.unmap()
	}
	f.unmap, f.data = nil, nil
	return err
}

// Size is the size of the file in bytes.
func (f *File) Size() int64 {
	if f.parts != nil {
		var n int64
		for _, p := range f.parts {
			n += p.Size()
		}
		return n
	}
	return int64(len(f.data))
}

// ErrFormat is wrapped by every error about a malformed file.
var ErrFormat = errors.New("malformed GGUF")

// Parse parses a GGUF file held in memory. The returned File refers to data
// for tensor contents; data must stay unchanged while the File is used.
func Parse(data []byte) (*File, error) {
	r := &reader{data: data}
	f, err := r.file()
	if err != nil {
		return nil, err
	}
	f.data = data
	f.refs = 1
	return f, nil
}

// reader walks the file with bounds checks. Every read names its offset
// in errors, because a hex dump is how people debug a broken file.
type reader struct {
	data []byte
	off  int
}

func (r *reader) errorf(format string, args ...any) error {
	return fmt.Errorf("gguf: %w at offset %d: %s", ErrFormat, r.off, fmt.Sprintf(format, args...))
}

func (r *reader) remaining() int { return len(r.data) - r.off }

func (r *reader) need(n int, what string) error {
	if n < 0 || n > r.remaining() {
		return r.errorf("%s needs %d bytes but the file has %d left (truncated?)", what, n, r.remaining())
	}
	return nil
}

func (r *reader) u32(what string) (uint32, error) {
	if err := r.need(4, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint32(r.data[r.off:])
	r.off += 4
	return v, nil
}

func (r *reader) u64(what string) (uint64, error) {
	if err := r.need(8, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(r.data[r.off:])
	r.off += 8
	return v, nil
}

// count reads a 64-bit element count and checks that count elements of at
// least minSize bytes each can fit in what is left of the file.
func (r *reader) count(what string, minSize int) (int, error) {
	start := r.off
	n, err := r.u64(what)
	if err != nil {
		return 0, err
	}
	if minSize < 1 {
		minSize = 1
	}
	if n > uint64(r.remaining()/minSize) {
		r.off = start
		return 0, r.errorf("%s %d is larger than the file can hold", what, n)
	}
	return int(n), nil
}

func (r *reader) str(what string) (string, error) {
	if s, ok := r.fastStr(); ok {
		return s, nil
	}
	n, err := r.count(what+" length", 1)
	if err != nil {
		return "", err
	}
	s := string(r.data[r.off : r.off+n])
	r.off += n
	return s, nil
}

// fastStr reads a string when it is well formed, without building the
// description an error would need: vocabularies hold 100k+ strings.
func (r *reader) fastStr() (string, bool) {
	if r.remaining() < 8 {
		return "", false
	}
	n := binary.LittleEndian.Uint64(r.data[r.off:])
	if n > uint64(r.remaining()-8) {
		return "", false
	}
	start := r.off + 8
	r.off = start + int(n)
	return string(r.data[start:r.off]), true
}

func (r *reader) file() (*File, error) {
	if err := r.need(4, "magic"); err != nil {
		return nil, err
	}
	if magic := string(r.data[:4]); magic != Magic {
		return nil, r.errorf("bad magic %q, want %q (not a GGUF file)", magic, Magic)
	}
	r.off = 4
	version, err := r.u32("version")
	if err != nil {
		return nil, err
	}
	switch {
	case version == 2 || version == 3:
	case version == 1:
		return nil, r.errorf("GGUF version 1 is obsolete and not supported (convert the file again)")
	case version&0xffff == 0 && version != 0:
		return nil, r.errorf("version %#x looks big-endian; big-endian GGUF is not supported", version)
	default:
		return nil, r.errorf("unsupported GGUF version %d (supported: 2, 3)", version)
	}
	// A tensor description takes at least 8+4+8+4+8 bytes, a KV 8+4+1.
	nTensors, err := r.count("tensor count", 32)
	if err != nil {
		return nil, err
	}
	nKV, err := r.count("metadata count", 13)
	if err != nil {
		return nil, err
	}
	f := &File{
		Version:   version,
		Metadata:  make([]KV, 0, min(nKV, maxPrealloc)),
		kv:        make(map[string]int, min(nKV, maxPrealloc)),
		Alignment: DefaultAlignment,
	}
	for i := 0; i < nKV; i++ {
		key, err := r.str(fmt.Sprintf("metadata key #%d", i))
		if err != nil {
			return nil, err
		}
		if _, dup := f.kv[key]; dup {
			return nil, r.errorf("duplicate metadata key %q", key)
		}
		typ, err := r.u32(fmt.Sprintf("type of %q", key))
		if err != nil {
			return nil, err
		}
		v, err := r.value(ValueType(typ), key, 0)
		if err != nil {
			return nil, err
		}
		f.kv[key] = len(f.Metadata)
		f.Metadata = append(f.Metadata, KV{key, v})
	}
	if _, ok := f.kv["general.alignment"]; ok {
		a, err := f.Uint("general.alignment")
		if err != nil {
			return nil, err
		}
		if a == 0 || a&(a-1) != 0 || a > 1<<20 {
			return nil, r.errorf("general.alignment %d is not a power of two up to 1 MiB", a)
		}
		f.Alignment = int(a)
	}

	f.Tensors = make([]TensorInfo, 0, min(nTensors, maxPrealloc))
	f.tensors = make(map[string]int, min(nTensors, maxPrealloc))
	for i := 0; i < nTensors; i++ {
		t, err := r.tensorInfo(i)
		if err != nil {
			return nil, err
		}
		if _, dup := f.tensors[t.Name]; dup {
			return nil, r.errorf("duplicate tensor name %q", t.Name)
		}
		if t.Offset%uint64(f.Alignment) != 0 {
			return nil, r.errorf("tensor %q: offset %d is not a multiple of the alignment %d", t.Name, t.Offset, f.Alignment)
		}
		f.tensors[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}

	f.DataOffset = alignUp(int64(r.off), int64(f.Alignment))
	if nTensors > 0 && f.DataOffset > int64(len(r.data)) {
		return nil, r.errorf("data section at %d starts past the end of the file (%d bytes)", f.DataOffset, len(r.data))
	}
	dataLen := uint64(max(int64(len(r.data))-f.DataOffset, 0))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Offset > dataLen || uint64(t.Size) > dataLen-t.Offset {
			return nil, fmt.Errorf("gguf: %w: tensor %q: %d bytes at data offset %d run past the end of the file (data section is %d bytes)",
				ErrFormat, t.Name, t.Size, t.Offset, dataLen)
		}
	}
	return f, nil
}

func (r *reader) tensorInfo(i int) (TensorInfo, error) {
	name, err := r.str(fmt.Sprintf("tensor #%d name", i))
	if err != nil {
		return TensorInfo{}, err
	}
	nDims, err := r.u32(fmt.Sprintf("tensor %q dimension count", name))
	if err != nil {
		return TensorInfo{}, err
	}
	if nDims == 0 || nDims > maxDims {
		return TensorInfo{}, r.errorf("tensor %q has %d dimensions (want 1 to %d)", name, nDims, maxDims)
	}
	t := TensorInfo{Name: name, Dims: make([]uint64, nDims)}
	for d := range t.Dims {
		if t.Dims[d], err = r.u64(fmt.Sprintf("tensor %q dimension %d", name, d)); err != nil {
			return TensorInfo{}, err
		}
	}
	typ, err := r.u32(fmt.Sprintf("tensor %q type", name))
	if err != nil {
		return TensorInfo{}, err
	}
	t.Type = tensor.Type(typ)
	if !t.Type.Known() {
		return TensorInfo{}, r.errorf("tensor %q has unknown type %d", name, typ)
	}
	if t.Size, err = t.Type.Bytes(t.Dims); err != nil {
		return TensorInfo{}, r.errorf("tensor %q: %v", name, err)
	}
	if t.Offset, err = r.u64(fmt.Sprintf("tensor %q offset", name)); err != nil {
		return TensorInfo{}, err
	}
	return t, nil
}

func (r *reader) value(t ValueType, key string, depth int) (Value, error) {
	what := fmt.Sprintf("value of %q", key)
	if t == TypeString {
		s, err := r.str(what)
		return Value{t, s}, err
	}
	if t == TypeArray {
		a, err := r.array(key, depth)
		return Value{t, a}, err
	}
	n := t.size()
	if n == 0 {
		return Value{}, r.errorf("%q has unknown value type %d", key, uint32(t))
	}
	if err := r.need(n, what); err != nil {
		return Value{}, err
	}
	b := r.data[r.off : r.off+n]
	r.off += n
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return Value{t, b[0]}, nil
	case TypeInt8:
		return Value{t, int8(b[0])}, nil
	case TypeBool:
		if b[0] > 1 {
			r.off -= n
			return Value{}, r.errorf("%q: bool byte is %d, want 0 or 1", key, b[0])
		}
		return Value{t, b[0] == 1}, nil
	case TypeUint16:
		return Value{t, le.Uint16(b)}, nil
	case TypeInt16:
		return Value{t, int16(le.Uint16(b))}, nil
	case TypeUint32:
		return Value{t, le.Uint32(b)}, nil
	case TypeInt32:
		return Value{t, int32(le.Uint32(b))}, nil
	case TypeFloat32:
		return Value{t, math.Float32frombits(le.Uint32(b))}, nil
	case TypeUint64:
		return Value{t, le.Uint64(b)}, nil
	case TypeInt64:
		return Value{t, int64(le.Uint64(b))}, nil
	default: // TypeFloat64
		return Value{t, math.Float64frombits(le.Uint64(b))}, nil
	}
}

func (r *reader) array(key string, depth int) (Array, error) {
	if depth >= maxNesting {
		return Array{}, r.errorf("%q: arrays nested deeper than %d", key, maxNesting)
	}
	et, err := r.u32(fmt.Sprintf("element type of %q", key))
	if err != nil {
		return Array{}, err
	}
	t := ValueType(et)
	if t.minSize() == 0 {
		return Array{}, r.errorf("%q: unknown array element type %d", key, et)
	}
	n, err := r.count(fmt.Sprintf("length of array %q", key), t.minSize())
	if err != nil {
		return Array{}, err
	}
	switch t {
	case TypeString:
		// Check every length before allocating: a string header takes
		// twice the bytes of the shortest encoded string.
		if err := r.checkStrings(key, n); err != nil {
			return Array{}, err
		}
		s := make([]string, n)
		for i := range s {
			s[i], _ = r.fastStr()
		}
		return Array{t, s}, nil
	case TypeArray:
		s := make([]Array, 0, min(n, maxPrealloc))
		for range n {
			sub, err := r.array(key, depth+1)
			if err != nil {
				return Array{}, err
			}
			s = append(s, sub)
		}
		return Array{t, s}, nil
	case TypeBool:
		s := make([]bool, n)
		for i := range s {
			b := r.data[r.off+i]
			if b > 1 {
				r.off += i
				return Array{}, r.errorf("%q[%d]: bool byte is %d, want 0 or 1", key, i, b)
			}
			s[i] = b == 1
		}
		r.off += n
		return Array{t, s}, nil
	}
	b := r.data[r.off : r.off+n*t.size()]
	r.off += len(b)
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return Array{t, append([]uint8(nil), b...)}, nil
	case TypeInt8:
		return Array{t, fill(n, func(i int) int8 { return int8(b[i]) })}, nil
	case TypeUint16:
		return Array{t, fill(n, func(i int) uint16 { return le.Uint16(b[2*i:]) })}, nil
	case TypeInt16:
		return Array{t, fill(n, func(i int) int16 { return int16(le.Uint16(b[2*i:])) })}, nil
	case TypeUint32:
		return Array{t, fill(n, func(i int) uint32 { return le.Uint32(b[4*i:]) })}, nil
	case TypeInt32:
		return Array{t, fill(n, func(i int) int32 { return int32(le.Uint32(b[4*i:])) })}, nil
	case TypeFloat32:
		return Array{t, fill(n, func(i int) float32 { return math.Float32frombits(le.Uint32(b[4*i:])) })}, nil
	case TypeUint64:
		return Array{t, fill(n, func(i int) uint64 { return le.Uint64(b[8*i:]) })}, nil
	case TypeInt64:
		return Array{t, fill(n, func(i int) int64 { return int64(le.Uint64(b[8*i:])) })}, nil
	default: // TypeFloat64
		return Array{t, fill(n, func(i int) float64 { return math.Float64frombits(le.Uint64(b[8*i:])) })}, nil
	}
}

// checkStrings checks that n strings follow, without reading them; the
// error names the first one that runs past the end of the file.
func (r *reader) checkStrings(key string, n int) error {
	off := r.off
	for i := range n {
		if len(r.data)-off < 8 || binary.LittleEndian.Uint64(r.data[off:]) > uint64(len(r.data)-off-8) {
			r.off = off // for the error's offset
			_, err := r.str(fmt.Sprintf("%q[%d]", key, i))
			return err
		}
		off += 8 + int(binary.LittleEndian.Uint64(r.data[off:]))
	}
	return nil
}

func fill[T any](n int, at func(int) T) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = at(i)
	}
	return s
}

func alignUp(n, a int64) int64 { return (n + a - 1) / a * a }

// Tensor returns the description of the named tensor.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tensors[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// TensorData returns the bytes of t, a slice of the mapped file: no copy
// is made and the slice must not be written to.
func (f *File) TensorData(t *TensorInfo) []byte {
	if f.parts != nil {
		return f.parts[f.partOf[f.tensors[t.Name]]].TensorData(t)
	}
	start := f.DataOffset + int64(t.Offset)
	return f.data[start : start+t.Size : start+t.Size]
}
