package model

import (
	"context"
	"errors"
	"fmt"
)

// StopReason says why Generate stopped.
type StopReason int

const (
	StopLength  StopReason = iota // generated the maximum number of tokens
	StopEmit                      // emit asked to stop (end of text, stop string)
	StopContext                   // the sequence's context is full
)

func (r StopReason) String() string {
	switch r {
	case StopLength:
		return "length"
	case StopEmit:
		return "stop"
	case StopContext:
		return "context"
	}
	return fmt.Sprintf("StopReason(%d)", int(r))
}

// Generate runs the decoding loop: it feeds prompt after what seq holds,
// then repeatedly asks next to pick a token from the logits of the last
// position, hands it to emit and feeds it back as a single-token step
// through the KV cache. The prompt needs at least one token, since a
// sequence keeps no logits: to continue a sequence, feed its next token. It stops
// after maxTokens tokens (< 0: no limit), when emit returns true, or when
// the context is full. The logits slice passed to next is reused between
// steps.
func (m *Model) Generate(ctx context.Context, seq *Sequence, prompt []int32, maxTokens int,
	next func(logits []float32) int32, emit func(token int32) (stop bool)) (StopReason, error) {
	var logits []float32
	var err error
	if len(prompt) == 0 {
		return 0, errors.New("model: Generate needs at least one prompt token")
	}
	if logits, err = m.Forward(ctx, seq, prompt, OutputLast, logits); err != nil {
		return 0, err
	}
	for n := 0; maxTokens < 0 || n < maxTokens; n++ {
		tok := next(logits)
		if emit(tok) {
			return StopEmit, nil
		}
		if maxTokens >= 0 && n+1 == maxTokens {
			break
		}
		if seq.Len() >= m.ctxLen {
			return StopContext, nil
		}
		if logits, err = m.Forward(ctx, seq, []int32{tok}, OutputLast, logits[:0]); err != nil {
			return 0, err
		}
	}
	return StopLength, nil
}
