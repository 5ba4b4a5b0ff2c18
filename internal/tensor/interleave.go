package tensor

import "math"

// The interleaved path of MatMul for several tokens and the signed
// 32-element formats (Q8_0, Q4_0, Q5_0, IQ4_NL; weights times Q8_0
// activations). Their per-row kernels spend most of their work not on
// the products but on reducing each block's eight partial sums and
// scaling them per row; with 8 rows interleaved, the accumulator's eight
// lanes are eight rows, so a block needs no reduction and its scales are
// applied eight rows at a time.
//
// A row chunk is repacked once per token chunk (it stays in L2 while
// every token passes over it), unless the matrix keeps a repacked copy
// (Interleave), into groups of 8 rows; a group holds, per
// block of 32 elements, ilBlockBytes bytes:
//
//	d[8]     float32: the 8 rows' scales
//	q[8][32] int8:    vector g (32 bytes) holds elements 4g..4g+3 of
//	                  rows 0..7, four bytes a row
//
// The weights are decoded to int8 there (nibbles, fifth bits and the
// IQ4_NL levels resolved), so one kernel serves every type: per vector it
// multiplies the four activations of each token, broadcast to all lanes,
// into the eight rows' sums. The VNNI kernel takes them with their sign
// bits flipped (w+128, unsigned: its multiply-add is unsigned by signed)
// and starts each block's sums from -128*sum(x) to take the offset back
// out, so its activation table holds that sum beside each block's scale.
//
// Each block's integer dot product is exact, and d_w*d_x is rounded as
// ggml rounds it, but the float sum over blocks runs in another order
// than the per-row kernels', so results differ from theirs in the last
// bits.

const (
	ilRows       = 8
	ilBlockBytes = 4*ilRows + ilRows*QK
	// ilMinTok is the fewest tokens MatMul takes the path for: the
	// repack, which also waits for the weights from memory, is not earned
	// back by four tokens: four-sequence decode (bench --parallel 4, Q8_0,
	// Qwen2.5-0.5B shape, AMD EPYC with AVX2) took 1.12-1.18x the CPU
	// time with it in three runs.
	ilMinTok = 8
)

// interleaved is the interleaved path of one type.
type interleaved struct {
	// repack writes groups groups of 8 rows (rows wrow bytes apart in w)
	// of nb blocks each to dst, groups*nb*ilBlockBytes bytes.
	repack func(dst, w []byte, wrow, groups, nb int)
	// flip is XORed into every repacked weight byte: 0, or 0x80 for the
	// VNNI kernel's unsigned weights.
	flip byte
	// xdPer is the float32s per block of the table xd writes.
	xdPer int
	// xd writes the table rows4 reads beside a token's Q8_0 activation
	// row xq: per block its scale (xdPer 1), or -128*sum(q) as int32 bits
	// then its scale (xdPer 2).
	xd func(xd []float32, xq []byte)
	// rows4 computes out[t*ostride + r] for the 8*groups rows of the
	// repacked w8 and 4 tokens of Q8_0 activations, xrow bytes apart in
	// x, whose tables are xd[t*xdPer*nb:].
	rows4 func(w8 []byte, groups, nb int, x []byte, xrow int, xd []float32, out []float32, ostride int)
}

// q8Scales sets xd[b] to the scale of block b of the Q8_0 row xq.
func q8Scales(xd []float32, xq []byte) {
	for b := range xd {
		xd[b] = fp16At(xq[b*q8_0Bytes:])
	}
}

// q8Sums sets xd[2b] to -128 times the sum of block b's quants of the
// Q8_0 row xq, as int32 bits, and xd[2b+1] to its scale.
func q8Sums(xd []float32, xq []byte) {
	for b := range len(xd) / 2 {
		blk := xq[b*q8_0Bytes:]
		var s int32
		for _, q := range blk[2:q8_0Bytes] {
			s += int32(int8(q))
		}
		xd[2*b] = math.Float32frombits(uint32(-128 * s))
		xd[2*b+1] = fp16At(blk)
	}
}

// Interleave makes m keep a copy of its rows in the interleaved layout,
// so that products of four tokens and more (prompts, several sequences)
// take the interleaved path without repacking at every call, and from
// four tokens instead of ilMinTok. It reports whether m's type has the
// path on this CPU; when not, m is left as it was. The copy is
// InterleavedBytes(m) bytes beside Data, which MatMul still reads for
// single tokens and for the rows past the last whole group of 8. Call it
// before m is shared; m must be valid.
func (m *Matrix) Interleave() bool {
	il := ops[m.Type].il
	if il == nil || m.il != nil {
		return m.il != nil
	}
	groups, nb := m.Rows/ilRows, m.Cols/QK
	if groups == 0 {
		return false
	}
	w8 := make([]byte, groups*nb*ilBlockBytes)
	il.repack(w8, m.Data, m.rowBytes(), groups, nb)
	m.il, m.ilOf = w8, il
	return true
}

// InterleavedBytes is the size of the copy Interleave keeps of m (0 when
// it keeps none).
func InterleavedBytes(m *Matrix) int64 { return int64(len(m.il)) }
