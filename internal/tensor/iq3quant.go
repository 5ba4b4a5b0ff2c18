package tensor

import (
	"encoding/binary"
	"math"
	"sync"
)

// The IQ3 quantizers, as llama.cpp's model quantizer runs them without an
// importance matrix (ggml's quantize_row_iq3_xxs_impl and
// quantize_row_iq3_s_impl, weights x²). Each sub-block of 32 values is
// split into signs and magnitudes; the magnitudes are searched for the
// scale whose rounding to the eight levels 2l+1 (l < 8) fits best in least
// squares, each group of four levels moved to the nearest grid point
// (iq3_find_best_neighbour) when it is not one. The sub-block scales are
// then stored with 4 bits against the super-block's F16 scale.
//
// The arithmetic is float32 as in the C code, with the multiplies and adds
// that GCC contracts (ggml is built with -ffp-contract=fast and FMA)
// computed as one fused operation by fma32 (fmaFast in its common case):
// scale*q-x and the weighted squares in the neighbour search, the sums of
// the least squares fits, id*x-1 in the level rounding and the 15+is*0.2
// of the scale candidates. TestRequantizeFixtures (package quantize)
// checks the bytes against llama.cpp's qwen2-IQ3_S fixture, which pins
// the first four: computing any one of them unfused changes 1 to 6 of its
// 4608 blocks. It cannot tell the last two apart; they follow GCC's rule
// all the same.

// iq3Grid is the quantizer's view of one IQ3 grid (ggml's iq3xs_init_impl):
// the levels of each grid point, the grid index of each point of the full
// 8^4 lattice that is on the grid, and for the others the grid points at
// the nearest few distances.
type iq3Grid struct {
	// levels holds the four levels l (0..7) of each grid point.
	levels [][4]int8
	// q holds the four values 2l+1 of each grid point, as floats.
	q [][4]float32
	// index is the grid index of lattice point u (levels l0..l3 packed
	// with 3 bits each, l0 lowest), or -1 when u is not on the grid.
	index [1 << 12]int16
	// neighbours lists, for each lattice point not on the grid, the grid
	// points at its nwant smallest distances (2 for the 256-point grid, 3
	// for the 512-point one), ordered by distance, then index.
	neighbours [1 << 12][]uint16
}

var (
	iq3xxsQuantGrid, iq3sQuantGrid         *iq3Grid
	iq3xxsQuantGridOnce, iq3sQuantGridOnce sync.Once
)

// iq3xxsGridLevel is the level of each magnitude of iq3xxsGrid: the
// grid stores 4+8l, except 62 for level 7.
func iq3xxsGridLevel(v uint8) int8 {
	if v == 62 {
		return 7
	}
	return int8((v - 4) / 8)
}

// iq3GridFor returns the quantizer's tables of IQ3_XXS (the 256-point
// grid) or IQ3_S (512 points), built on first use.
func iq3GridFor(t Type) *iq3Grid {
	if t == IQ3_XXS {
		iq3xxsQuantGridOnce.Do(func() {
			levels := make([][4]int8, len(iq3xxsGrid))
			for k, g := range iq3xxsGrid {
				for i := range 4 {
					levels[k][i] = iq3xxsGridLevel(uint8(g >> (8 * i)))
				}
			}
			iq3xxsQuantGrid = newIQ3Grid(levels, 2)
		})
		return iq3xxsQuantGrid
	}
	iq3sQuantGridOnce.Do(func() {
		levels := make([][4]int8, len(iq3sGrid))
		for k, g := range iq3sGrid {
			for i := range 4 {
				levels[k][i] = int8((uint8(g>>(8*i)) - 1) / 2)
			}
		}
		iq3sQuantGrid = newIQ3Grid(levels, 3)
	})
	return iq3sQuantGrid
}

// newIQ3Grid builds the tables of a grid as iq3xs_init_impl does: the
// neighbours of an off-grid point are the grid points at its nwant
// smallest squared distances (in the values 2l+1), in order of distance
// and then of grid index.
func newIQ3Grid(levels [][4]int8, nwant int) *iq3Grid {
	g := &iq3Grid{levels: levels, q: make([][4]float32, len(levels))}
	for i := range g.index {
		g.index[i] = -1
	}
	for k, l := range levels {
		u := 0
		for i := range 4 {
			g.q[k][i] = float32(2*l[i] + 1)
			u |= int(l[i]) << (3 * i)
		}
		g.index[u] = int16(k)
	}
	d2 := make([]int, len(levels))
	for u := range g.index {
		if g.index[u] >= 0 {
			continue
		}
		// Distances to every grid point; the largest possible is 4*14².
		const maxD2 = 4 * 14 * 14
		var seen [maxD2 + 1]bool
		for k, l := range levels {
			d := 0
			for i := range 4 {
				e := 2*int(l[i]) - 2*(u>>(3*i)&7)
				d += e * e
			}
			d2[k] = d
			seen[d] = true
		}
		// The nwant smallest distances present, then the points at them
		// in (distance, index) order.
		var nb []uint16
		have := 0
		for d := 0; d <= maxD2 && have < nwant; d++ {
			if !seen[d] {
				continue
			}
			have++
			for k := range levels {
				if d2[k] == d {
					nb = append(nb, uint16(k))
				}
			}
		}
		g.neighbours[u] = nb
	}
	return g
}

// bestNeighbour is iq3_find_best_neighbour: of the neighbours of an
// off-grid point, the grid point nearest to xval under scale, distances
// weighted by w (the first on ties). It stores the point's levels in L
// and returns its index.
func (g *iq3Grid) bestNeighbour(nb []uint16, xval, w []float32, scale float32, L []int8) int {
	best, bestD2 := -1, float32(math.MaxFloat32)
	for _, k := range nb {
		q := &g.q[k]
		var d2 float32
		for i := range 4 {
			diff, ok := fmaFast(scale, q[i], -xval[i])
			if !ok {
				diff = fma32(scale, q[i], -xval[i])
			}
			wd := w[i] * diff
			r, ok := fmaFast(wd, diff, d2)
			if !ok {
				r = fma32(wd, diff, d2)
			}
			d2 = r
		}
		if d2 < bestD2 {
			bestD2, best = d2, int(k)
		}
	}
	if best < 0 {
		// Only NaN or infinite distances leave none (llama.cpp aborts):
		// take the first.
		best = int(nb[0])
	}
	copy(L[:4], g.levels[best][:])
	return best
}

// fmaFast is fma32's common case, small enough to inline: the float64
// sum of the exact product and c, rounded once more to float32, is the
// fused result unless it lies exactly halfway between two float32 values
// or below float32's normal range (zero aside). ok is false then, and the
// caller takes fma32.
func fmaFast(a, b, c float32) (r float32, ok bool) {
	s := float64(float64(a)*float64(b)) + float64(c)
	u := math.Float64bits(s)
	return float32(s), u&(1<<29-1) != 1<<28 && ((u>>52)&0x7ff >= 1023-126 || u<<1 == 0)
}

// fmaq is fma32 through fmaFast.
func fmaq(a, b, c float32) float32 {
	if r, ok := fmaFast(a, b, c); ok {
		return r
	}
	return fma32(a, b, c)
}

// iq3Level is nearest_int(0.5*(id*x-1)) clamped to a level, with the
// multiply and subtract fused as GCC compiles it.
func iq3Level(id, x float32, maxL int32) int32 {
	return min(max(nearestInt(0.5*fmaq(id, x, -1)), 0), maxL)
}

// iq3Fit is the least squares fit of levels L to xval with weights w:
// sum w*x*q and sum w*q*q for q = 2l+1.
func iq3Fit(L []int8, xval, w []float32) (sumQX, sumQ2 float32) {
	for i := range L {
		q := float32(2*L[i] + 1)
		wx, wq := w[i]*xval[i], w[i]*q
		rx, ok := fmaFast(wx, q, sumQX)
		if !ok {
			rx = fma32(wx, q, sumQX)
		}
		r2, ok := fmaFast(wq, q, sumQ2)
		if !ok {
			r2 = fma32(wq, q, sumQ2)
		}
		sumQX, sumQ2 = rx, r2
	}
	return sumQX, sumQ2
}

// iq3LatticeIndex packs four levels into a lattice point.
func iq3LatticeIndex(L []int8) int {
	return int(L[0]) | int(L[1])<<3 | int(L[2])<<6 | int(L[3])<<9
}

// iq3SubBlock holds the work of quantizing one 32-value sub-block.
type iq3SubBlock struct {
	weight, waux, xval [32]float32
	L, Laux            [32]int8
	onGrid, onGridAux  [8]bool
	signs              [4]uint8
	index              [8]int // the grid index of each group of four
}

// quantize fits one sub-block xb for grid g (IQ3_XXS when xxs) and
// returns its scale, leaving the grid indices and sign bytes in s. ok is
// false when the sub-block counts as all zero: llama.cpp then writes
// nothing for it.
func (s *iq3SubBlock) quantize(g *iq3Grid, xb []float32, xxs bool) (scale float32, ok bool) {
	const kMaxQ = 8
	for i, v := range xb {
		s.weight[i] = v * v
		s.waux[i] = float32(math.Sqrt(float64(s.weight[i])))
	}
	for k := range 4 {
		nflip := 0
		var sg uint8
		for i := range 8 {
			v := xb[8*k+i]
			if v >= 0 {
				s.xval[8*k+i] = v
			} else {
				s.xval[8*k+i] = -v
				nflip++
				sg |= 1 << i
			}
		}
		if xxs && nflip%2 != 0 {
			// IQ3_XXS stores seven signs, the eighth being their parity:
			// flip the value that matters least.
			imin := 0
			minW := float32(s.weight[8*k]*xb[8*k]) * xb[8*k]
			for i := 1; i < 8; i++ {
				if ax := float32(s.weight[8*k+i]*xb[8*k+i]) * xb[8*k+i]; ax < minW {
					minW, imin = ax, i
				}
			}
			s.xval[8*k+imin] = -s.xval[8*k+imin]
			sg ^= 1 << imin
		}
		if xxs {
			sg &= 127
		}
		s.signs[k] = sg
	}
	vmax := s.xval[0]
	for _, v := range s.xval[1:] {
		vmax = max(vmax, v)
	}
	clear(s.L[:])
	if xxs && vmax < 1e-8 || !xxs && vmax == 0 {
		return 0, false
	}
	var best float32
	scale = vmax / (2*kMaxQ - 1)
	for k := range s.onGrid {
		s.onGrid[k] = xxs
	}
	nis := 9
	if xxs {
		nis = 15
	}
	for is := -nis; is <= nis; is++ {
		id := fma32(float32(is), 0.2, 2*kMaxQ-1) / vmax
		thisScale := 1 / id
		for k := range 8 {
			for i := range 4 {
				s.Laux[4*k+i] = int8(iq3Level(id, s.xval[4*k+i], kMaxQ-1))
			}
			u := iq3LatticeIndex(s.Laux[4*k:])
			s.onGridAux[k] = true
			if g.index[u] < 0 {
				s.onGridAux[k] = false
				g.bestNeighbour(g.neighbours[u], s.xval[4*k:], s.waux[4*k:], thisScale, s.Laux[4*k:])
			}
		}
		sumQX, sumQ2 := iq3Fit(s.Laux[:], s.xval[:], s.weight[:])
		if sumQ2 > 0 && float32(sumQX*sumQX) > float32(best*sumQ2) {
			scale = sumQX / sumQ2
			best = scale * sumQX
			s.L = s.Laux
			s.onGrid = s.onGridAux
		}
	}
	offGrid := false
	for _, on := range s.onGrid {
		offGrid = offGrid || !on
	}
	if offGrid && scale > 0 {
		id := 1 / scale
		for k := range 8 {
			if xxs && s.onGrid[k] {
				continue
			}
			var l [4]int8
			for i := range 4 {
				l[i] = int8(iq3Level(id, s.xval[4*k+i], kMaxQ-1))
			}
			u := iq3LatticeIndex(l[:])
			idx := int(g.index[u])
			if idx < 0 {
				idx = g.bestNeighbour(g.neighbours[u], s.xval[4*k:], s.waux[4*k:], scale, s.L[4*k:])
			}
			copy(s.L[4*k:4*k+4], g.levels[idx][:])
		}
		sumQX, sumQ2 := iq3Fit(s.L[:], s.xval[:], s.weight[:])
		if sumQ2 > 0 {
			scale = sumQX / sumQ2
		}
	}
	if scale < 0 {
		// "Should never happen" in llama.cpp: flip the signs instead.
		scale = -scale
		for k := range s.signs {
			s.signs[k] = ^s.signs[k]
			if xxs {
				s.signs[k] &= 127
			}
		}
	}
	for k := range 8 {
		s.index[k] = int(g.index[iq3LatticeIndex(s.L[4*k:])])
	}
	return scale, true
}

// iq3SubScale is the 4-bit code of a sub-block scale against the
// super-block's 1/d.
func iq3SubScale(id, scale float32) uint8 {
	return uint8(iq3Level(id, scale, 15))
}

// quantizeIQ3_XXS is quantize_row_iq3_xxs_impl without an importance
// matrix.
func quantizeIQ3_XXS(dst []byte, src []float32) {
	g := iq3GridFor(IQ3_XXS)
	var (
		s      iq3SubBlock
		scales [QKK / 32]float32
	)
	for ibl := range len(src) / QKK {
		x := src[ibl*QKK : (ibl+1)*QKK]
		b := dst[ibl*iq3_XXSBytes : (ibl+1)*iq3_XXSBytes]
		clear(b)
		qs, ss := b[2:2+QKK/4], b[2+QKK/4:]
		var maxScale float32
		for ib := range QKK / 32 {
			scale, ok := s.quantize(g, x[32*ib:32*ib+32], true)
			scales[ib] = scale
			if !ok {
				continue
			}
			for k, idx := range s.index {
				qs[8*ib+k] = uint8(idx)
			}
			sg := uint32(s.signs[0]) | uint32(s.signs[1])<<7 | uint32(s.signs[2])<<14 | uint32(s.signs[3])<<21
			binary.LittleEndian.PutUint32(ss[4*ib:], sg)
			maxScale = max(maxScale, scale)
		}
		if maxScale == 0 {
			clear(b)
			continue
		}
		d := maxScale / 31
		putFP16(b, d*1.0125)
		id := 1 / d
		for ib := range QKK / 32 {
			v := binary.LittleEndian.Uint32(ss[4*ib:])
			binary.LittleEndian.PutUint32(ss[4*ib:], v|uint32(iq3SubScale(id, scales[ib]))<<28)
		}
	}
}

// quantizeIQ3_S is quantize_row_iq3_s_impl (sub-blocks of 32) without an
// importance matrix, with one deliberate difference: an all-zero
// sub-block keeps its place (grid index 0, no signs). llama.cpp moves on
// in qs and signs only after a sub-block that is not all zero, so every
// later sub-block of its super-block is written one place early and
// decodes to other values; rows without such a sub-block (the fixture's,
// for one) give the same bytes either way.
func quantizeIQ3_S(dst []byte, src []float32) {
	g := iq3GridFor(IQ3_S)
	var (
		s      iq3SubBlock
		scales [QKK / 32]float32
	)
	for ibl := range len(src) / QKK {
		x := src[ibl*QKK : (ibl+1)*QKK]
		b := dst[ibl*iq3_SBytes : (ibl+1)*iq3_SBytes]
		clear(b)
		qs := b[2 : 2+QKK/4]
		qh := b[2+QKK/4 : 2+QKK/4+QKK/32]
		signs := b[2+QKK/4+QKK/32 : 2+QKK/4+QKK/32+QKK/8]
		sc := b[2+QKK/4+QKK/32+QKK/8:]
		var maxScale float32
		for ib := range QKK / 32 {
			scale, ok := s.quantize(g, x[32*ib:32*ib+32], false)
			scales[ib] = scale
			if !ok {
				qs, signs = qs[8:], signs[4:]
				continue
			}
			for k, idx := range s.index {
				qs[k] = uint8(idx)
				qh[(ib*8+k)/8] |= uint8(idx>>8) << ((ib*8 + k) % 8)
			}
			qs = qs[8:]
			copy(signs, s.signs[:])
			signs = signs[4:]
			maxScale = max(maxScale, scale)
		}
		if maxScale == 0 {
			continue
		}
		d := maxScale / 31
		putFP16(b, d*1.033)
		id := 1 / d
		for ib := 0; ib < QKK/32; ib += 2 {
			sc[ib/2] = iq3SubScale(id, scales[ib]) | iq3SubScale(id, scales[ib+1])<<4
		}
	}
}
