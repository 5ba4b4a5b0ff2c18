package tensor

import "fmt"

// Matrix is a 2-D weight tensor in ggml layout: Rows rows of Cols elements
// each, each row Type.RowBytes(Cols) bytes, rows contiguous. Data is
// usually a slice of a memory-mapped GGUF file; the package never writes
// to it.
type Matrix struct {
	Type       Type
	Rows, Cols int
	Data       []byte
}

// NewMatrix returns the rows x cols matrix of type t over data (a GGUF
// tensor with Dims {cols, rows}), or Validate's error.
func NewMatrix(t Type, rows, cols int, data []byte) (*Matrix, error) {
	m := &Matrix{Type: t, Rows: rows, Cols: cols, Data: data}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// Validate reports whether m can be used with MatMul: a type with kernels,
// a positive shape whose rows are whole blocks, and Data of exactly the
// size the shape implies. Check it once when loading a model; MatMul
// panics on a matrix that fails it.
func (m *Matrix) Validate() error {
	if !m.Type.Known() {
		return fmt.Errorf("tensor: matrix has unknown type %d", uint32(m.Type))
	}
	if opsFor(m.Type) == nil {
		return fmt.Errorf("tensor: matrix type %s is not supported (no kernels)", m.Type)
	}
	if m.Rows <= 0 || m.Cols <= 0 {
		return fmt.Errorf("tensor: %s matrix has shape %dx%d", m.Type, m.Rows, m.Cols)
	}
	rb, err := m.Type.RowBytes(int64(m.Cols))
	if err != nil {
		return err
	}
	if want := int64(m.Rows) * rb; int64(len(m.Data)) != want {
		return fmt.Errorf("tensor: %s matrix %dx%d needs %d bytes, has %d", m.Type, m.Rows, m.Cols, want, len(m.Data))
	}
	return nil
}

// rowBytes is the size of one row; m must be valid.
func (m *Matrix) rowBytes() int {
	rb, _ := m.Type.RowBytes(int64(m.Cols))
	return int(rb)
}

// Row returns the bytes of row i.
func (m *Matrix) Row(i int) []byte {
	rb := m.rowBytes()
	return m.Data[i*rb : (i+1)*rb]
}

// MatMul computes, for j < n and i < w.Rows,
//
//	dst[j*w.Rows + i] = dot(row i of w, x[j*w.Cols:(j+1)*w.Cols])
//
// x holds n activation rows (tokens) of float32; MatMul first converts
// them to VecDotType(w.Type) exactly as ggml does (so integer dot products
// see the same quants as llama.cpp), then computes output rows in
// parallel. Only the first n*w.Cols elements of x and n*w.Rows of dst are
// used.
//
// It panics on programming errors: a matrix that fails Validate, n < 0,
// or x or dst too short.
func (p *Pool) MatMul(dst []float32, w *Matrix, x []float32, n int) {
	p.matMul(&ops, dst, w, x, n)
}

// matMul is MatMul with the kernels of table (benchmarks compare ops, the
// kernels in use, with goOps, the portable ones).
func (p *Pool) matMul(table *opsTable, dst []float32, w *Matrix, x []float32, n int) {
	if err := w.Validate(); err != nil {
		panic(err)
	}
	if n < 0 || len(x) < n*w.Cols || len(dst) < n*w.Rows {
		panic(fmt.Sprintf("tensor: MatMul of %dx%d %s matrix with n=%d: len(x)=%d (want %d), len(dst)=%d (want %d)",
			w.Rows, w.Cols, w.Type, n, len(x), n*w.Cols, len(dst), n*w.Rows))
	}
	p.mu.Lock()
	defer p.mu.Unlock()

	o := &table[w.Type]
	xt, conv := table.mmInput(w.Type)
	xrb, _ := xt.RowBytes(int64(w.Cols))
	xrow := int(xrb)
	if need := n * xrow; cap(p.scratch) < need {
		p.scratch = make([]byte, need)
	}
	xq := p.scratch[:n*xrow]
	cols := w.Cols
	p.forEach(n, func(j int) {
		conv(xq[j*xrow:(j+1)*xrow], x[j*cols:(j+1)*cols])
	})

	rows, wrow := w.Rows, w.rowBytes()
	kernel := o.rows
	if kernel == nil {
		kernel = rowsByDot(o.dot)
	}
	// Work is handed out in chunks of rows of about chunkBytes of
	// weights: big enough that scheduling costs nothing, small enough to
	// balance the threads and, for prompts, to stay in L2 while every
	// token of a token chunk passes over them.
	rowChunk := max(1, min(rows, chunkBytes/wrow))
	nchunks := (rows + rowChunk - 1) / rowChunk
	if n == 1 {
		p.forEach(nchunks, func(c int) {
			lo := c * rowChunk
			hi := min(lo+rowChunk, rows)
			kernel(cols, w.Data[lo*wrow:hi*wrow], wrow, hi-lo, xq, xrow, 1, dst[lo:hi], rows)
		})
		return
	}
	// Prompt: tokens are taken tokChunk at a time so that their
	// activations stay in cache while all rows pass over them; each row
	// chunk then runs the kernel on maxTok tokens at a time, so weights
	// come from memory once per token chunk and from cache once per
	// maxTok tokens.
	tokChunk := max(maxTok, min(n, tokChunkBytes/xrow)/maxTok*maxTok)
	for t0 := 0; t0 < n; t0 += tokChunk {
		t1 := min(t0+tokChunk, n)
		p.forEach(nchunks, func(c int) {
			lo := c * rowChunk
			hi := min(lo+rowChunk, rows)
			wr := w.Data[lo*wrow : hi*wrow]
			for t := t0; t < t1; t += maxTok {
				nt := min(maxTok, t1-t)
				kernel(cols, wr, wrow, hi-lo, xq[t*xrow:(t+nt)*xrow], xrow, nt, dst[t*rows+lo:], rows)
			}
		})
	}
}

// Cache budgets of MatMul's blocking (per thread: half of a 1 MiB L2
// for a token chunk's activations, the rest for a row chunk's weights).
const (
	chunkBytes    = 64 << 10
	tokChunkBytes = 256 << 10
)
