package tokenizer

import "unicode/utf8"

// DecodeOptions are llama_detokenize's switches. The zero value renders
// everything, as llama.cpp's common_detokenize does by default.
type DecodeOptions struct {
	// SkipSpecial leaves control and unknown tokens out of the text
	// (llama.cpp's unparse_special = false).
	SkipSpecial bool
	// RemoveSpecial drops a leading BOS and a trailing EOS where Encode
	// would have added them (remove_special).
	RemoveSpecial bool
}

// Decode turns ids back into text, the way llama.cpp's llama_detokenize
// does with DecodeOptions{}: pieces concatenated, the space SentencePiece
// put before the first word removed, and for vocabularies that ask for it
// (llama-bpe, GPT-2) spaces before punctuation and contractions cleaned up
// (" ." becomes "."). Ids out of range decode to nothing. The result is
// the raw bytes, which need not be valid UTF-8 (a byte token may stand for
// part of a character).
func (t *Tokenizer) Decode(ids []int32) string { return t.DecodeWith(ids, DecodeOptions{}) }

// DecodeWith is Decode with options.
func (t *Tokenizer) DecodeWith(ids []int32, opt DecodeOptions) string {
	removeSpace := t.addSpacePrefix
	if opt.RemoveSpecial && t.AddBOS() && len(ids) > 0 && ids[0] == t.bos {
		removeSpace = false
		ids = ids[1:]
	}
	if opt.RemoveSpecial && t.AddEOS() && len(ids) > 0 && ids[len(ids)-1] == t.eos {
		ids = ids[:len(ids)-1]
	}
	var b []byte
	for _, id := range ids {
		b = t.appendPiece(b, id, !opt.SkipSpecial, removeSpace)
		removeSpace = false
	}
	if t.cleanSpaces {
		b = cleanSpaces(b)
	}
	return string(b)
}

// appendPiece appends a token's piece, without one leading space if lstrip.
func (t *Tokenizer) appendPiece(b []byte, id int32, special, lstrip bool) []byte {
	p := t.piece(id, special)
	if lstrip && len(p) > 0 && p[0] == ' ' {
		p = p[1:]
	}
	return append(b, p...)
}

// cleanSpaces is llama.cpp's clean_up_tokenization_spaces, three passes in
// place: remove the space before ? ! . and ,; remove the spaces around a
// lone apostrophe (" ' "); remove the space before 's 'm 're 've. Each pass
// sees the bytes beside the one it looks at as they were when the pass
// began (the compaction writes only behind the read position), except
// that a space dropped after an apostrophe reads as NUL, exactly as in
// llama.cpp.
func cleanSpaces(text []byte) []byte {
	if len(text) == 0 {
		return text
	}
	total := len(text)
	n := total
	total = 1
	for i := 1; i < n; i++ {
		x := text[i]
		if text[i-1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',') {
			total--
		}
		text[total] = x
		total++
	}
	n, total = total, 1
	for i := 1; i < n; i++ {
		x := text[i]
		if x == '\'' && i+1 < n && text[i-1] == ' ' && text[i+1] == ' ' {
			total--
			i++
			text[i] = 0 // the next space is dropped and no longer counts as one
		}
		text[total] = x
		total++
	}
	n, total = total, 1
	for i := 1; i < n; i++ {
		x := text[i]
		if text[i-1] == ' ' && x == '\'' && i+1 < n {
			x1 := text[i+1]
			if x1 == 's' || x1 == 'm' {
				total--
			} else if i+2 < n {
				x2 := text[i+2]
				if (x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e') {
					total--
				}
			}
		}
		text[total] = x
		total++
	}
	return text[:total]
}

// Decoder decodes a stream of tokens, as a model generates them, into
// text: Add returns the text that each token completes, holding back an
// incomplete UTF-8 sequence until the bytes that complete it arrive, and,
// where Decode cleans up spaces, the few bytes whose clean-up depends on
// what comes next. Flush returns what is held back. The concatenation of
// everything Add and Flush return is Decode of the ids added.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	t           *Tokenizer
	special     bool
	removeSpace bool
	pending     []byte
	checked     int // pending[:checked] holds no place to cut
}

// NewDecoder returns a streaming decoder with DecodeOptions{}.
func (t *Tokenizer) NewDecoder() *Decoder {
	return &Decoder{t: t, special: true, removeSpace: t.addSpacePrefix}
}

// NewDecoderWith returns a streaming decoder rendering control tokens or
// not as opt.SkipSpecial says. opt.RemoveSpecial is not supported when
// streaming (a trailing EOS cannot be known to be the last token).
func (t *Tokenizer) NewDecoderWith(opt DecodeOptions) *Decoder {
	d := t.NewDecoder()
	d.special = !opt.SkipSpecial
	return d
}

// Add decodes one more token and returns the text it completes.
func (d *Decoder) Add(id int32) string {
	d.pending = d.t.appendPiece(d.pending, id, d.special, d.removeSpace)
	d.removeSpace = false
	k := d.cut()
	if k == 0 {
		return ""
	}
	out := d.pending[:k]
	if d.t.cleanSpaces {
		out = cleanSpaces(out)
	}
	s := string(out)
	d.pending = append(d.pending[:0], d.pending[k:]...)
	d.checked = 0
	return s
}

// Flush returns the text held back, ending the stream: a following Add
// starts a new piece of text (its first token keeps its leading space).
func (d *Decoder) Flush() string {
	out := d.pending
	if d.t.cleanSpaces {
		out = cleanSpaces(out)
	}
	s := string(out)
	d.pending = d.pending[:0]
	d.checked = 0
	return s
}

// cut returns how many pending bytes can be emitted: not an incomplete
// UTF-8 sequence at the end, and with space clean-up, only up to two bytes
// that are neither space nor apostrophe. Every clean-up rule removes a
// space that starts its pattern (" .", " ' ", " 're") or, for " ' ", ends
// it, so no rule can join the bytes before such a place with those after:
// cleaning the text piece by piece gives what cleaning it whole gives.
// (Text made only of single characters between spaces has no such place
// and waits for Flush.)
func (d *Decoder) cut() int {
	p := d.pending
	k := completeUTF8(p)
	if !d.t.cleanSpaces {
		return k
	}
	// Places below checked were looked at by earlier calls; appending
	// bytes does not change them.
	for ; k >= 2 && k > d.checked; k-- {
		if quiet(p[k-1]) && quiet(p[k-2]) && (k == len(p) || completeUTF8(p[:k]) == k) {
			return k
		}
	}
	d.checked = len(p)
	return 0
}

func quiet(c byte) bool { return c != ' ' && c != '\'' }

// completeUTF8 returns the length of p without a trailing incomplete
// UTF-8 sequence: a lead byte followed by fewer continuation bytes than it
// announces. Invalid bytes count as complete (no later byte fixes them).
func completeUTF8(p []byte) int {
	for back := 1; back <= utf8.UTFMax && back <= len(p); back++ {
		c := p[len(p)-back]
		if c&0xC0 == 0x80 {
			continue // continuation: look further back for its lead
		}
		if c >= 0xC0 && !utf8.FullRune(p[len(p)-back:]) {
			return len(p) - back
		}
		break
	}
	return len(p)
}
