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
	// The loop bodies are the Pool's, built once, and read their
	// parameters from p.mm: a MatMul allocates nothing.
	mm := &p.mm
	*mm = mmState{w: w, x: x, dst: dst, xq: p.scratch[:n*xrow], xrow: xrow, conv: conv, rows: o.rows, dot: o.dot}
	defer func() { *mm = mmState{} }()
	p.forEach(n, p.mmConv)

	rows, wrow := w.Rows, w.rowBytes()
	mm.wrow = wrow
	// Work is handed out in chunks of rows of about chunkBytes of
	// weights: big enough that scheduling costs nothing, small enough to
	// balance the threads and, for prompts, to stay in L2 while every
	// token of a token chunk passes over them.
	mm.rowChunk = max(1, min(rows, chunkBytes/wrow))
	nchunks := (rows + mm.rowChunk - 1) / mm.rowChunk
	if n == 1 {
		p.forEach(nchunks, p.mmRows)
		return
	}
	// Prompt: tokens are taken tokChunk at a time so that their
	// activations stay in cache while all rows pass over them; each row
	// chunk then runs the kernel on maxTok tokens at a time, so weights
	// come from memory once per token chunk and from cache once per
	// maxTok tokens.
	tokChunk := max(maxTok, min(n, tokChunkBytes/xrow)/maxTok*maxTok)
	for t0 := 0; t0 < n; t0 += tokChunk {
		mm.t0, mm.t1 = t0, min(t0+tokChunk, n)
		p.forEach(nchunks, p.mmTk)
	}
}

// mmState is the MatMul in progress.
type mmState struct {
	w          *Matrix
	x, dst     []float32
	xq         []byte
	xrow, wrow int
	rowChunk   int
	t0, t1     int
	conv       func(dst []byte, src []float32)
	rows       dotRows
	dot        func(n int, w, x []byte) float32
}

// mmConvRow converts activation row j to the kernels' input type.
func (p *Pool) mmConvRow(j int) {
	mm := &p.mm
	cols := mm.w.Cols
	mm.conv(mm.xq[j*mm.xrow:(j+1)*mm.xrow], mm.x[j*cols:(j+1)*cols])
}

// mmRowChunk computes row chunk c for a single token (decode).
func (p *Pool) mmRowChunk(c int) {
	mm := &p.mm
	rows := mm.w.Rows
	lo := c * mm.rowChunk
	hi := min(lo+mm.rowChunk, rows)
	mm.kernel(mm.w.Data[lo*mm.wrow:hi*mm.wrow], hi-lo, mm.xq, 1, mm.dst[lo:hi])
}

// mmTokChunk computes row chunk c for tokens [t0, t1), maxTok at a time.
func (p *Pool) mmTokChunk(c int) {
	mm := &p.mm
	rows := mm.w.Rows
	lo := c * mm.rowChunk
	hi := min(lo+mm.rowChunk, rows)
	wr := mm.w.Data[lo*mm.wrow : hi*mm.wrow]
	for t := mm.t0; t < mm.t1; t += maxTok {
		nt := min(maxTok, mm.t1-t)
		mm.kernel(wr, hi-lo, mm.xq[t*mm.xrow:(t+nt)*mm.xrow], nt, mm.dst[t*rows+lo:])
	}
}

// kernel runs the type's row kernel, or its dot product row by row
// where it has none, on nrows rows of weights and ntok tokens; out has
// the stride of the whole matrix's rows.
func (mm *mmState) kernel(w []byte, nrows int, x []byte, ntok int, out []float32) {
	cols, ostride := mm.w.Cols, mm.w.Rows
	if mm.rows != nil {
		mm.rows(cols, w, mm.wrow, nrows, x, mm.xrow, ntok, out, ostride)
		return
	}
	for r := range nrows {
		wr := w[r*mm.wrow:]
		for t := range ntok {
			out[t*ostride+r] = mm.dot(cols, wr, x[t*mm.xrow:])
		}
	}
}

// Cache budgets of MatMul's blocking: a row chunk's weights stay in L2
// while every token of a token chunk passes over them; the token chunk's
// activations come from L2 or L3 at each pass. The larger the token
// chunk, the fewer times the weights come from memory: with F32
// activations (F16 and BF16 weights) a 4864-wide row takes 19 KiB a
// token, and a 1 MiB token chunk instead of 256 KiB took an F16 prompt
// 0.92x the CPU time (Qwen2.5-0.5B shape, pp512, AMD EPYC with 512 KiB
// of L2 a core), Q8_0 and Q4_K_M the same as before.
const (
	chunkBytes    = 64 << 10
	tokChunkBytes = 1 << 20
)

// MatMulSerial computes what MatMul computes, with the same kernels in
// the same order (so the same results), on the calling goroutine alone.
// buf receives the converted activations; it is returned, grown if it
// was too small. It is for callers that run many small products in
// parallel themselves, where handing each to a Pool would cost more than
// the product.
func MatMulSerial(dst []float32, w *Matrix, x []float32, n int, buf []byte) []byte {
	if err := w.Validate(); err != nil {
		panic(err)
	}
	if n < 0 || len(x) < n*w.Cols || len(dst) < n*w.Rows {
		panic(fmt.Sprintf("tensor: MatMulSerial of %dx%d %s matrix with n=%d: len(x)=%d (want %d), len(dst)=%d (want %d)",
			w.Rows, w.Cols, w.Type, n, len(x), n*w.Cols, len(dst), n*w.Rows))
	}
	o := &ops[w.Type]
	xt, conv := ops.mmInput(w.Type)
	xrb, _ := xt.RowBytes(int64(w.Cols))
	xrow := int(xrb)
	if cap(buf) < n*xrow {
		buf = make([]byte, n*xrow)
	}
	xq := buf[:n*xrow]
	cols := w.Cols
	for j := range n {
		conv(xq[j*xrow:(j+1)*xrow], x[j*cols:(j+1)*cols])
	}
	mm := mmState{w: w, xrow: xrow, wrow: w.rowBytes(), rows: o.rows, dot: o.dot}
	for t := 0; t < n; t += maxTok {
		nt := min(maxTok, n-t)
		mm.kernel(w.Data, w.Rows, xq[t*xrow:(t+nt)*xrow], nt, dst[t*w.Rows:])
	}
	return buf
}
