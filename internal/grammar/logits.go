package grammar

import "math"

// ApplyMask sets the logit of every token not in mask to -Inf, so that
// any sampler (greedy, top-k, top-p, min-p, temperature, penalties) picks
// only allowed tokens. Use it between the model's forward pass and the
// sampler:
//
//	n := m.Mask(mask, budgetLeft)
//	grammar.ApplyMask(logits, mask)
//	id := sampler.Sample(logits, history)
//	if err := m.Accept(id); err != nil { ... } // cannot fail for a masked draw
//
// When n is 0 the document is finished (Done) and generation must stop.
func ApplyMask(logits []float32, mask []uint64) {
	negInf := float32(math.Inf(-1))
	for i := range logits {
		if !Allowed(mask, int32(i)) {
			logits[i] = negInf
		}
	}
}

// Allowed reports whether token id is set in mask.
func Allowed(mask []uint64, id int32) bool {
	return id >= 0 && int(id/64) < len(mask) && mask[id/64]&(1<<(id%64)) != 0
}
