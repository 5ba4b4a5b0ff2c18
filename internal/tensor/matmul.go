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

	// il is the copy Interleave keeps: the whole groups of 8 rows in
	// the interleaved layout (interleave.go), or nil; ilOf is the path
	// whose layout it has (kernel sets differ in it).
	il   []byte
	ilOf *interleaved
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

	// The loop bodies are the Pool's, built once, and read their
	// parameters from p.mm: a MatMul allocates nothing once its scratch
	// has grown to the sizes in use.
	p.mm = newMM(table, w, x, dst, n, &p.mmBuf, p.threads)
	mm := &p.mm
	defer func() { *mm = mmState{} }()
	p.forEach(n, p.mmConv)

	nchunks := (w.Rows + mm.rowChunk - 1) / mm.rowChunk
	if n == 1 {
		p.forEach(nchunks, p.mmRows)
		return
	}
	// Prompt: tokens are taken tokChunk at a time so that their
	// activations stay in cache while all rows pass over them; each row
	// chunk then runs the kernel on maxTok tokens at a time, so weights
	// come from memory once per token chunk and from cache once per
	// maxTok tokens.
	for t0 := 0; t0 < n; t0 += mm.tokChunk {
		mm.t0, mm.t1 = t0, min(t0+mm.tokChunk, n)
		p.forEach(nchunks, p.mmTk)
	}
}

// mmState is the MatMul in progress.
type mmState struct {
	// The matrix's data and shape, not the *Matrix: the state of a
	// MatMulSerial would make its caller's Matrix escape to the heap.
	wdata      []byte
	wrows      int
	cols       int
	x, dst     []float32
	xq         []byte
	xrow, wrow int
	rowChunk   int
	tokChunk   int
	t0, t1     int
	conv       func(dst []byte, src []float32)
	rows       dotRows
	dot        func(n int, w, x []byte) float32
	// il is the interleaved path (interleave.go) when the type has one
	// and there are tokens enough; xd then holds the activations' block
	// scales and ilBuf a repacked row chunk per thread.
	il    *interleaved
	xd    []float32
	ilBuf [][]byte
	w8    []byte // the matrix's interleaved copy, when it keeps one
}

// mmBuffers is MatMul's scratch, kept across calls.
type mmBuffers struct {
	xq    []byte    // the converted activations
	xd    []float32 // their block scales, for the interleaved path
	ilBuf [][]byte  // a repacked row chunk per thread
}

// newMM sets up a product of w with n rows of x into dst, with the
// kernels of table, taking its scratch from buf. (It returns the state
// rather than filling one in place so that the matrix of a MatMulSerial
// does not escape to the heap.)
func newMM(table *opsTable, w *Matrix, x, dst []float32, n int, buf *mmBuffers, threads int) mmState {
	o := &table[w.Type]
	xt, conv := table.mmInput(w.Type)
	xrb, _ := xt.RowBytes(int64(w.Cols))
	xrow := int(xrb)
	buf.xq = grow(buf.xq, n*xrow)
	mm := mmState{wdata: w.Data, wrows: w.Rows, cols: w.Cols, x: x, dst: dst, xq: buf.xq[:n*xrow], xrow: xrow, wrow: w.rowBytes(), conv: conv, rows: o.rows, dot: o.dot}
	// Work is handed out in chunks of rows of about chunkBytes of
	// weights: big enough that scheduling costs nothing, small enough to
	// balance the threads and, for prompts, to stay in L2 while every
	// token of a token chunk passes over them. A whole number of fours,
	// where the matrix allows, for the kernels that take rows four at a
	// time: a 4864-wide F16 row chunk of 6 rows left a third of the rows
	// to a slower kernel.
	mm.rowChunk = max(1, min(w.Rows, chunkBytes/mm.wrow))
	if w.Rows >= 4 {
		mm.rowChunk = max(4, mm.rowChunk/4*4)
	}
	mm.tokChunk = max(maxTok, min(n, tokChunkBytes/xrow)/maxTok*maxTok)
	kept := w.il != nil && o.il == w.ilOf
	if o.il != nil && w.Rows >= ilRows && (n >= ilMinTok || kept && n >= maxTok) {
		mm.il = o.il
		if kept {
			mm.w8 = w.il
		}
		mm.rowChunk = max(ilRows, mm.rowChunk/ilRows*ilRows)
		xds := w.Cols / QK * o.il.xdPer
		buf.xd = grow(buf.xd, n*xds)
		mm.xd = buf.xd[:n*xds]
		if len(buf.ilBuf) < threads {
			buf.ilBuf = append(buf.ilBuf, make([][]byte, threads-len(buf.ilBuf))...)
		}
		mm.ilBuf = buf.ilBuf[:threads]
	}
	return mm
}

// grow returns s with room for n elements, reallocated when too small.
func grow[E any](s []E, n int) []E {
	if cap(s) < n {
		return make([]E, n)
	}
	return s[:n]
}

// mmConvRow converts activation row j to the kernels' input type.
func (p *Pool) mmConvRow(j, _ int) { p.mm.convRow(j) }

func (mm *mmState) convRow(j int) {
	cols := mm.cols
	xq := mm.xq[j*mm.xrow : (j+1)*mm.xrow]
	mm.conv(xq, mm.x[j*cols:(j+1)*cols])
	if mm.il != nil {
		xds := cols / QK * mm.il.xdPer
		mm.il.xd(mm.xd[j*xds:(j+1)*xds], xq)
	}
}

// mmRowChunk computes row chunk c for a single token (decode).
func (p *Pool) mmRowChunk(c, _ int) {
	mm := &p.mm
	rows := mm.wrows
	lo := c * mm.rowChunk
	hi := min(lo+mm.rowChunk, rows)
	mm.kernel(mm.wdata[lo*mm.wrow:hi*mm.wrow], hi-lo, mm.xq, 1, mm.dst[lo:hi])
}

// mmTokChunk computes row chunk c for tokens [t0, t1), maxTok at a time.
func (p *Pool) mmTokChunk(c, slot int) {
	mm := &p.mm
	lo := c * mm.rowChunk
	mm.tokRows(lo, min(lo+mm.rowChunk, mm.wrows), slot)
}

// tokRows computes rows [lo, hi) for tokens [t0, t1), maxTok at a time.
// On the interleaved path it repacks the rows' whole groups of 8 into
// the thread's buffer (ilBuf[slot]), or takes them from the matrix's
// copy, and runs the interleaved kernel on them for every four tokens;
// the row kernel does the rest.
func (mm *mmState) tokRows(lo, hi, slot int) {
	rows := mm.wrows
	if mm.il != nil && hi-lo >= ilRows {
		groups, nb := (hi-lo)/ilRows, mm.cols/QK
		var w8 []byte
		if mm.w8 != nil {
			w8 = mm.w8[lo/ilRows*nb*ilBlockBytes:]
		} else {
			buf := &mm.ilBuf[slot]
			*buf = grow(*buf, groups*nb*ilBlockBytes)
			w8 = *buf
			mm.il.repack(w8, mm.wdata[lo*mm.wrow:], mm.wrow, groups, nb)
		}
		t := mm.t0
		for ; t+maxTok <= mm.t1; t += maxTok {
			mm.il.rows4(w8, groups, nb, mm.xq[t*mm.xrow:], mm.xrow, mm.xd[t*nb*mm.il.xdPer:], mm.dst[t*rows+lo:], rows)
		}
		if t < mm.t1 {
			mm.kernel(mm.wdata[lo*mm.wrow:], groups*ilRows, mm.xq[t*mm.xrow:mm.t1*mm.xrow], mm.t1-t, mm.dst[t*rows+lo:])
		}
		lo += groups * ilRows
	}
	if lo == hi {
		return
	}
	wr := mm.wdata[lo*mm.wrow : hi*mm.wrow]
	for t := mm.t0; t < mm.t1; t += maxTok {
		nt := min(maxTok, mm.t1-t)
		mm.kernel(wr, hi-lo, mm.xq[t*mm.xrow:(t+nt)*mm.xrow], nt, mm.dst[t*rows+lo:])
	}
}

// kernel runs the type's row kernel, or its dot product row by row
// where it has none, on nrows rows of weights and ntok tokens; out has
// the stride of the whole matrix's rows.
func (mm *mmState) kernel(w []byte, nrows int, x []byte, ntok int, out []float32) {
	cols, ostride := mm.cols, mm.wrows
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

// Scratch is MatMulSerial's working memory, kept across calls; the zero
// value is ready to use. A Scratch serves one call at a time.
type Scratch struct{ buf mmBuffers }

// MatMulSerial computes what MatMul computes, with the same kernels in
// the same order (so the same results), on the calling goroutine alone,
// with its working memory from s. It is for callers that run many small
// products in parallel themselves, where handing each to a Pool would
// cost more than the product.
func MatMulSerial(dst []float32, w *Matrix, x []float32, n int, s *Scratch) {
	if err := w.Validate(); err != nil {
		panic(err)
	}
	if n < 0 || len(x) < n*w.Cols || len(dst) < n*w.Rows {
		panic(fmt.Sprintf("tensor: MatMulSerial of %dx%d %s matrix with n=%d: len(x)=%d (want %d), len(dst)=%d (want %d)",
			w.Rows, w.Cols, w.Type, n, len(x), n*w.Cols, len(dst), n*w.Rows))
	}
	mm := newMM(&ops, w, x, dst, n, &s.buf, 1)
	for j := range n {
		mm.convRow(j)
	}
	for lo := 0; lo < w.Rows; lo += mm.rowChunk {
		hi := min(lo+mm.rowChunk, w.Rows)
		if n == 1 {
			mm.kernel(w.Data[lo*mm.wrow:hi*mm.wrow], hi-lo, mm.xq, 1, dst[lo:hi])
			continue
		}
		for t0 := 0; t0 < n; t0 += mm.tokChunk {
			mm.t0, mm.t1 = t0, min(t0+mm.tokChunk, n)
			mm.tokRows(lo, hi, 0)
		}
	}
}
