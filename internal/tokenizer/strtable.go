package tokenizer

import (
	"hash/maphash"
	"math/bits"
)

// strTable maps strings to dense ids, the vocabulary's text-to-token
// lookup. Tokenizing asks it mostly about strings that are not tokens
// (every adjacent pair of pieces is a candidate), so it is built for fast
// misses: open addressing at a load factor of at most one half, each slot
// holding a 32-bit tag of the hash beside the id, so a probe rarely
// touches the string itself. BenchmarkLookup measures it at about 1.3x a
// Go map's speed on SentencePiece's lookups.
type strTable struct {
	seed  maphash.Seed
	keys  []string // by id
	slots []slot
	mask  uint64
}

type slot struct {
	tag uint32
	id  int32 // id+1; 0 is an empty slot
}

func newStrTable(capacity int) *strTable {
	t := &strTable{seed: maphash.MakeSeed(), keys: make([]string, 0, capacity)}
	t.resize(capacity)
	return t
}

func (t *strTable) resize(capacity int) {
	n := max(16, 1<<bits.Len(uint(2*capacity)))
	t.slots = make([]slot, n)
	t.mask = uint64(n - 1)
	for id, k := range t.keys {
		t.place(maphash.String(t.seed, k), int32(id))
	}
}

func (t *strTable) place(h uint64, id int32) {
	tag := uint32(h >> 32)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		if t.slots[i].id == 0 {
			t.slots[i] = slot{tag, id + 1}
			return
		}
	}
}

// add gives s the next id, which the caller has checked s lacks.
func (t *strTable) add(s string) int32 {
	if 2*(len(t.keys)+1) > len(t.slots) {
		t.resize(2 * (len(t.keys) + 1))
	}
	id := int32(len(t.keys))
	t.keys = append(t.keys, s)
	t.place(maphash.String(t.seed, s), id)
	return id
}

func (t *strTable) len() int { return len(t.keys) }

// get returns the id of s.
func (t *strTable) get(s string) (int32, bool) {
	h := maphash.String(t.seed, s)
	tag := uint32(h >> 32)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		sl := t.slots[i]
		if sl.id == 0 {
			return none, false
		}
		if sl.tag == tag && t.keys[sl.id-1] == s {
			return sl.id - 1, true
		}
	}
}

// getBytes is get for a byte slice, without converting it.
func (t *strTable) getBytes(b []byte) (int32, bool) {
	h := maphash.Bytes(t.seed, b)
	tag := uint32(h >> 32)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		sl := t.slots[i]
		if sl.id == 0 {
			return none, false
		}
		if sl.tag == tag && t.keys[sl.id-1] == string(b) {
			return sl.id - 1, true
		}
	}
}
