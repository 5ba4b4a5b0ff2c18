// Package tokenizer turns text into token ids and back, reading the
// vocabulary from a GGUF file's tokenizer.ggml.* metadata, and produces
// exactly the ids llama.cpp produces for the same file and text.
//
// Three families are supported: SentencePiece-style vocabularies
// (tokenizer.ggml.model "llama": Llama 2, Gemma, Phi-3, ...), which merge
// the highest-scoring adjacent pair of pieces until none is left and fall
// back to <0xNN> byte tokens; GPT-2-style byte-level BPE ("gpt2":
// Llama 3, Qwen, ...), which first cuts the text into words with a
// pre-tokenizer (tokenizer.ggml.pre) and then applies ranked merges inside
// each word; and WordPiece ("bert": BERT-style embedding encoders), which
// lowercases, drops accents, splits words at whitespace and punctuation
// and matches each word greedily, longest piece first (wpm.go).
//
// Exactness, not resemblance, is the point: a model sees the ids, and one
// different id changes its output. So the algorithms here follow
// llama.cpp's src/llama-vocab.cpp and src/unicode.cpp step by step,
// including their quirks (which special tokens are split out of the text,
// the leading space SentencePiece adds and removes, the space clean-up of
// some BPE vocabularies, Unicode categories from llama.cpp's tables), and
// are checked against llama.cpp's output on real vocabularies.
//
// A Tokenizer is immutable after FromGGUF and safe for concurrent use.
package tokenizer

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/raym33/ainative/internal/gguf"
)

// Model is the tokenization algorithm of a vocabulary.
type Model int

const (
	SentencePiece Model = iota + 1 // tokenizer.ggml.model "llama"
	BPE                            // tokenizer.ggml.model "gpt2"
	WordPiece                      // tokenizer.ggml.model "bert" (see wpm.go)
)

func (m Model) String() string {
	switch m {
	case SentencePiece:
		return "SentencePiece"
	case BPE:
		return "BPE"
	case WordPiece:
		return "WordPiece"
	}
	return fmt.Sprintf("Model(%d)", int(m))
}

// TokenType is a token's tokenizer.ggml.token_type.
type TokenType int32

const (
	TypeUndefined   TokenType = 0
	TypeNormal      TokenType = 1
	TypeUnknown     TokenType = 2
	TypeControl     TokenType = 3 // <s>, <|im_start|>: never produced from plain text
	TypeUserDefined TokenType = 4 // always split out of the text, even as plain text
	TypeUnused      TokenType = 5
	TypeByte        TokenType = 6 // <0xNN>, SentencePiece byte fallback
)

// attr is llama.cpp's llama_token_attr: the token type as flags, which
// loading adjusts (a token named like an end-of-turn token becomes
// control, for instance) and which decide how a token is matched and
// rendered.
type attr uint16

const (
	attrUnknown attr = 1 << iota
	attrUnused
	attrNormal
	attrControl
	attrUserDefined
	attrByte
	attrNormalized
	attrLStrip
	attrRStrip
)

func typeAttr(t TokenType) attr {
	switch t {
	case TypeNormal:
		return attrNormal
	case TypeUnknown:
		return attrUnknown
	case TypeControl:
		return attrControl
	case TypeUserDefined:
		return attrUserDefined
	case TypeUnused:
		return attrUnused
	case TypeByte:
		return attrByte
	}
	return 0
}

// none marks an absent special token (llama.cpp's LLAMA_TOKEN_NULL).
const none int32 = -1

// Tokenizer encodes and decodes text for one vocabulary.
type Tokenizer struct {
	model   Model
	pre     *preTokenizer // BPE only
	preName string

	tokens []string // token texts, by id
	scores []float32
	attrs  []attr
	// ids maps token texts to ids. For BPE it also holds the strings that
	// merges name but the vocabulary lacks, with ids >= len(tokens), so
	// that merging can work on ids alone.
	ids    *strTable
	merges map[uint64]int32 // BPE: (left id, right id) to the merge's rank

	// pieces holds the bytes each token decodes to, rendering control
	// tokens as their text: piece i is pieces[pieceAt[i]:pieceAt[i+1]].
	pieces  []byte
	pieceAt []uint32

	special  []int32 // tokens split out of the text before tokenizing, longest first
	specials specialIndex
	byteIDs  [256]int32 // SentencePiece byte fallback
	wpmLens  []int      // WordPiece: the distinct token lengths in bytes, increasing

	bos, eos, eot, eom, unk int32
	sep                     int32 // WordPiece: closes the text Encode brackets with BOS ([CLS])
	eog                     map[int32]bool

	addBOS, addEOS, addSpacePrefix bool
	ignoreMerges, cleanSpaces      bool
}

func pairKey(l, r int32) uint64 { return uint64(uint32(l))<<32 | uint64(uint32(r)) }

// Metadata keys read by FromGGUF.
const (
	keyModel       = "tokenizer.ggml.model"
	keyPre         = "tokenizer.ggml.pre"
	keyTokens      = "tokenizer.ggml.tokens"
	keyScores      = "tokenizer.ggml.scores"
	keyTokenType   = "tokenizer.ggml.token_type"
	keyMerges      = "tokenizer.ggml.merges"
	keyAddBOS      = "tokenizer.ggml.add_bos_token"
	keyAddEOS      = "tokenizer.ggml.add_eos_token"
	keyAddPrefix   = "tokenizer.ggml.add_space_prefix"
	keyBOS         = "tokenizer.ggml.bos_token_id"
	keyEOS         = "tokenizer.ggml.eos_token_id"
	keyEOT         = "tokenizer.ggml.eot_token_id"
	keyEOM         = "tokenizer.ggml.eom_token_id"
	keyUNK         = "tokenizer.ggml.unknown_token_id"
	keySEP         = "tokenizer.ggml.seperator_token_id" // sic, as llama.cpp spells it
	keyPAD         = "tokenizer.ggml.padding_token_id"
	keyMask        = "tokenizer.ggml.mask_token_id"
	keyFIMPre      = "tokenizer.ggml.fim_pre_token_id"
	keyFIMSuf      = "tokenizer.ggml.fim_suf_token_id"
	keyFIMMid      = "tokenizer.ggml.fim_mid_token_id"
	keyFIMPad      = "tokenizer.ggml.fim_pad_token_id"
	keyFIMRep      = "tokenizer.ggml.fim_rep_token_id"
	keyFIMSep      = "tokenizer.ggml.fim_sep_token_id"
	keyPrefixOld   = "tokenizer.ggml.prefix_token_id" // deprecated FIM keys
	keySuffixOld   = "tokenizer.ggml.suffix_token_id"
	keyMiddleOld   = "tokenizer.ggml.middle_token_id"
	keyEOGs        = "tokenizer.ggml.eog_token_ids" // written by some converters: more end-of-generation tokens
	keyGeneralName = "general.name"
)

// ErrUnsupported is wrapped by errors about vocabularies this package
// cannot tokenize (as opposed to malformed ones).
var ErrUnsupported = errors.New("unsupported tokenizer")

// FromGGUF builds the tokenizer described by f's metadata. It copies what
// it needs, so f may be closed afterwards. A malformed vocabulary (missing
// or mistyped keys, arrays of different lengths, bad merges, special token
// ids out of range, duplicate tokens) is an error naming the key.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	t, err := load(f)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return t, nil
}

func load(f *gguf.File) (*Tokenizer, error) {
	name, err := f.String(keyModel)
	if err != nil {
		return nil, err
	}
	pre, err := f.OptString(keyPre, "")
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{bos: none, eos: none, eot: none, eom: none, unk: none, sep: none}
	var fimPre, fimSuf, fimMid, fimPad, fimRep, fimSep, pad, mask int32 = none, none, none, none, none, none, none, none
	switch name {
	case "llama":
		t.model = SentencePiece
		t.bos, t.eos, t.unk = 1, 2, 0
		t.addSpacePrefix, t.addBOS = true, true
	case "gpt2":
		t.model = BPE
		t.bos, t.eos = 11, 11 // llama.cpp's defaults for GPT-2 vocabularies
		if pre == "" {
			// Files from before tokenizer.ggml.pre existed: llama.cpp
			// falls back to its default expressions.
			pre = "default"
		}
		p, ok := preTokenizers[pre]
		if !ok {
			return nil, fmt.Errorf("%w: %s %q is not supported (supported: %s)", ErrUnsupported, keyPre, pre, supportedPre())
		}
		t.pre, t.preName = p.pre, pre
		t.cleanSpaces, t.ignoreMerges, t.addBOS = p.cleanSpaces, p.ignoreMerges, p.addBOS
		if p.noBOS {
			t.bos = none
		}
	case "bert":
		// llama.cpp's WPM defaults, the ids of bert-base-uncased.
		t.model = WordPiece
		t.bos, t.unk, t.sep = 101, 100, 102
		t.addBOS, t.cleanSpaces = true, true
	case "no_vocab", "none":
		return nil, fmt.Errorf("%w: the file has no vocabulary (%s %q)", ErrUnsupported, keyModel, name)
	default:
		return nil, fmt.Errorf("%w: %s %q (supported: llama, gpt2, bert)", ErrUnsupported, keyModel, name)
	}
	if t.addSpacePrefix, err = f.OptBool(keyAddPrefix, t.addSpacePrefix); err != nil {
		return nil, err
	}

	if err := t.loadVocab(f); err != nil {
		return nil, err
	}
	n := int32(len(t.tokens))
	for _, p := range []*int32{&t.bos, &t.eos, &t.unk, &t.sep} {
		if *p >= n { // a default the (tiny) vocabulary does not reach
			*p = none
		}
	}
	if t.model == BPE {
		if err := t.loadMerges(f); err != nil {
			return nil, err
		}
	}

	for _, k := range []struct {
		key string
		id  *int32
	}{
		{keyBOS, &t.bos}, {keyEOS, &t.eos}, {keyEOT, &t.eot}, {keyEOM, &t.eom}, {keyUNK, &t.unk},
		{keySEP, &t.sep}, {keyPAD, &pad}, {keyMask, &mask},
		{keyFIMPre, &fimPre}, {keyFIMSuf, &fimSuf}, {keyFIMMid, &fimMid},
		{keyFIMPad, &fimPad}, {keyFIMRep, &fimRep}, {keyFIMSep, &fimSep},
		{keyPrefixOld, &fimPre}, {keySuffixOld, &fimSuf}, {keyMiddleOld, &fimMid},
	} {
		if !f.Has(k.key) {
			continue
		}
		v, err := f.Uint(k.key)
		if err != nil {
			return nil, err
		}
		if v >= uint64(n) {
			return nil, fmt.Errorf("%s is %d, outside the vocabulary of %d tokens", k.key, v, n)
		}
		*k.id = int32(v)
	}
	if t.addBOS, err = f.OptBool(keyAddBOS, t.addBOS); err != nil {
		return nil, err
	}
	if t.addEOS, err = f.OptBool(keyAddEOS, t.addEOS); err != nil {
		return nil, err
	}

	// Find the end-of-turn and fill-in-the-middle tokens by name when the
	// metadata does not give them, and make them control tokens, as
	// llama.cpp does: many converted files mark them as normal text.
	for _, d := range []struct {
		id    *int32
		names []string
	}{
		{&t.eot, []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"}},
		{&t.eom, []string{"<|eom_id|>"}},
		{&fimPre, []string{"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"}},
		{&fimSuf, []string{"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"}},
		{&fimMid, []string{"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"}},
		{&fimPad, []string{"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}},
		{&fimRep, []string{"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}},
		{&fimSep, []string{"<|file_sep|>"}},
	} {
		if *d.id != none {
			continue
		}
		// llama.cpp takes whichever its hash map yields first; taking the
		// names in order is deterministic and picks the likelier meaning
		// (<|eot_id|> over <|end_of_text|> for Llama 3).
		if id := t.firstID(d.names); id != none {
			*d.id = id
			t.attrs[id] |= attrControl
		}
	}

	// Control tokens named "unused" are unused.
	for id, a := range t.attrs {
		if a&attrControl != 0 && strings.Contains(t.tokens[id], "unused") {
			t.attrs[id] |= attrUnused
		}
	}

	// End of generation: the FIM pad/repo/file-separator tokens, every
	// token with a well-known end-of-turn name, and eos, eot and eom.
	t.eog = map[int32]bool{}
	for _, id := range []int32{fimPad, fimRep, fimSep} {
		if id != none {
			t.eog[id] = true
		}
	}
	for _, name := range []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>"} {
		if id, ok := t.token(name); ok {
			t.eog[id] = true
			t.attrs[id] |= attrControl
		}
	}
	// gpt-oss's channel markers are always rendered.
	for _, name := range []string{"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"} {
		if id, ok := t.token(name); ok {
			t.attrs[id] = attrUserDefined
		}
	}
	for _, id := range []int32{t.eos, t.eot, t.eom} {
		if id != none {
			t.eog[id] = true
		}
	}
	if f.Has(keyEOGs) {
		ids, err := f.Ints(keyEOGs)
		if err != nil {
			return nil, err
		}
		for i, id := range ids {
			if id < 0 || id >= int64(n) {
				return nil, fmt.Errorf("%s[%d] is %d, outside the vocabulary of %d tokens", keyEOGs, i, id, n)
			}
			t.eog[int32(id)] = true
		}
	}
	// Harmony-style vocabularies use <|end|> between messages, not to end.
	has := func(name string) bool { id, ok := t.token(name); return ok && t.eog[id] }
	if end, ok := t.token("<|end|>"); ok && t.eog[end] &&
		(has("<|call|>") || has("<|calls|>")) && (has("<|return|>") || has("<|flush|>")) {
		delete(t.eog, end)
		t.attrs[end] = attrUserDefined
	}

	for id, a := range t.attrs {
		if a&(attrControl|attrUserDefined|attrUnknown) != 0 {
			t.special = append(t.special, int32(id))
		}
	}
	sort.SliceStable(t.special, func(i, j int) bool {
		return len(t.tokens[t.special[i]]) > len(t.tokens[t.special[j]])
	})
	t.specials.build(t)

	if err := t.buildPieces(); err != nil {
		return nil, err
	}

	// Jina v2's <mask> takes the whitespace before it.
	if pre == "jina-v2-de" || pre == "jina-v2-es" || pre == "jina-v2-code" {
		if id, ok := t.token("<mask>"); ok {
			t.attrs[id] |= attrLStrip
		}
	}
	// Phi-3's special tokens swallow the whitespace after them.
	if gname, err := f.OptString(keyGeneralName, ""); err == nil {
		gname = strings.ToLower(gname)
		if strings.Contains(gname, "phi-3") || strings.Contains(gname, "phi3") {
			for _, id := range t.special {
				t.attrs[id] |= attrRStrip
			}
			if id, ok := t.token("</s>"); ok {
				t.attrs[id] |= attrRStrip
			}
			for _, name := range []string{"<unk>", "<s>", "<|endoftext|>"} {
				if id, ok := t.token(name); ok {
					t.attrs[id] &^= attrRStrip
				}
			}
		}
	}

	if t.model == WordPiece {
		if t.unk == none {
			return nil, fmt.Errorf("a WordPiece vocabulary needs an unknown token (%s)", keyUNK)
		}
		t.setupWordPiece()
	}
	if t.model == SentencePiece {
		for b := range t.byteIDs {
			t.byteIDs[b] = none
			if id, ok := t.token(fmt.Sprintf("<0x%02X>", b)); ok {
				t.byteIDs[b] = id
			} else if id, ok := t.token(string([]byte{byte(b)})); ok {
				t.byteIDs[b] = id
			}
		}
	}
	return t, nil
}

// checkLen checks that an optional per-token array has one entry per token.
func checkLen(key string, got, want int) error {
	if got != want {
		return fmt.Errorf("%s has %d entries but %s has %d", key, got, keyTokens, want)
	}
	return nil
}

func (t *Tokenizer) loadVocab(f *gguf.File) error {
	tokens, err := f.Strings(keyTokens)
	if err != nil {
		return err
	}
	if len(tokens) == 0 {
		return fmt.Errorf("%s is empty", keyTokens)
	}
	if len(tokens) > 1<<31-1 {
		return fmt.Errorf("%s has %d entries, more than token ids can number", keyTokens, len(tokens))
	}
	n := len(tokens)
	t.scores = make([]float32, n)
	if f.Has(keyScores) {
		scores, err := f.Float32s(keyScores)
		if err != nil {
			return err
		}
		if err := checkLen(keyScores, len(scores), n); err != nil {
			return err
		}
		copy(t.scores, scores)
	}
	t.attrs = make([]attr, n)
	if f.Has(keyTokenType) {
		types, err := f.Int32s(keyTokenType)
		if err != nil {
			return err
		}
		if err := checkLen(keyTokenType, len(types), n); err != nil {
			return err
		}
		for i, ty := range types {
			t.attrs[i] = typeAttr(TokenType(ty))
		}
	} else {
		for i := range t.attrs {
			t.attrs[i] = attrNormal
		}
	}
	t.tokens = make([]string, n)
	t.ids = newStrTable(n)
	for i, s := range tokens {
		if s == "" {
			s = fmt.Sprintf("[EMPTY_%d]", i) // as llama.cpp names empty tokens
		}
		if j, dup := t.ids.get(s); dup {
			return fmt.Errorf("%s: token %d %q repeats token %d", keyTokens, i, s, j)
		}
		t.tokens[i] = s
		t.ids.add(s)
	}
	return nil
}

func (t *Tokenizer) loadMerges(f *gguf.File) error {
	merges, err := f.Strings(keyMerges)
	if err != nil {
		return err
	}
	t.merges = make(map[uint64]int32, len(merges))
	id := func(s string) int32 {
		if i, ok := t.ids.get(s); ok {
			return i
		}
		return t.ids.add(s)
	}
	for rank, m := range merges {
		// llama.cpp splits at the first space after the first byte.
		sp := -1
		if len(m) > 1 {
			if i := strings.IndexByte(m[1:], ' '); i >= 0 {
				sp = i + 1
			}
		}
		if sp < 0 {
			return fmt.Errorf("%s[%d] is %q, want two pieces separated by a space", keyMerges, rank, m)
		}
		if t.ids.len() > 1<<31-3 || rank > 1<<31-1 {
			return fmt.Errorf("%s: too many distinct pieces", keyMerges)
		}
		key := pairKey(id(m[:sp]), id(m[sp+1:]))
		if _, dup := t.merges[key]; !dup {
			t.merges[key] = int32(rank) // the first rank wins, as in llama.cpp
		}
	}
	return nil
}

// buildPieces renders every token to bytes once, as llama.cpp's
// token-to-piece cache does (with special tokens rendered).
//
// Rendering may not take more than twice the vocabulary's own size plus
// 16 MiB. Real vocabularies shrink when rendered; only byte-level BPE
// tokens with code points outside GPT-2's byte mapping grow, because
// llama.cpp renders each such code point followed by the token's whole
// text (see appendByteDecoded), so a crafted token of n of them would
// otherwise cost about n² bytes.
func (t *Tokenizer) buildPieces() error {
	t.pieceAt = make([]uint32, len(t.tokens)+1)
	size := 0
	for _, s := range t.tokens {
		size += len(s)
	}
	limit := min(2*size+16<<20, math.MaxUint32)
	t.pieces = make([]byte, 0, size)
	for id, s := range t.tokens {
		a := t.attrs[id]
		ok := true
		switch {
		case a&(attrUnknown|attrControl|attrUserDefined) != 0:
			t.pieces = append(t.pieces, s...)
		case a&attrNormal != 0 && (t.model == SentencePiece || t.model == WordPiece):
			t.pieces = append(t.pieces, strings.ReplaceAll(s, "▁", " ")...)
		case a&attrNormal != 0: // BPE
			t.pieces, ok = appendByteDecoded(t.pieces, s, limit)
		case a&attrByte != 0 && t.model == SentencePiece:
			t.pieces = append(t.pieces, tokenByte(s))
		}
		if !ok || len(t.pieces) > limit {
			return fmt.Errorf("%s[%d] %.40q... is not byte-level BPE text: the decoded vocabulary would exceed %d bytes",
				keyTokens, id, s, limit)
		}
		t.pieceAt[id+1] = uint32(len(t.pieces))
	}
	return nil
}

// appendByteDecoded undoes GPT-2's byte-to-code-point mapping. A code
// point outside the mapping is kept in the form llama.cpp's
// llama_decode_text gives it: "[UNK_BYTE_0x" and its UTF-8 bytes in hex,
// then all of s and "]". It reports false, and stops, where that would
// make b longer than limit.
func appendByteDecoded(b []byte, s string, limit int) ([]byte, bool) {
	for i := 0; i < len(s); {
		r, n := decodeRune(s, i)
		i += n
		if c, ok := runeToByte[r]; ok {
			b = append(b, c)
			continue
		}
		if len(b)+len("[UNK_BYTE_0x]")+2*n+len(s) > limit {
			return b, false
		}
		b = append(b, "[UNK_BYTE_0x"...)
		for _, c := range appendRune(nil, r) {
			b = fmt.Appendf(b, "%02x", c)
		}
		b = append(b, s...)
		b = append(b, ']')
	}
	return b, true
}

// tokenByte parses the byte of a <0xNN> token like llama.cpp (strtol on the
// two characters after "<0x"), giving 0 for what does not parse.
func tokenByte(s string) byte {
	if len(s) < 5 {
		return 0
	}
	var v byte
	for _, c := range []byte(s[3:5]) {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | (c - '0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | (c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			v = v<<4 | (c - 'A' + 10)
		default:
			return v
		}
	}
	return v
}

// token returns the id of the token with text s.
func (t *Tokenizer) token(s string) (int32, bool) {
	id, ok := t.ids.get(s)
	return id, ok && id < int32(len(t.tokens))
}

// firstID returns the id of the first of names in the vocabulary.
func (t *Tokenizer) firstID(names []string) int32 {
	for _, name := range names {
		if id, ok := t.token(name); ok {
			return id
		}
	}
	return none
}

// Model reports the tokenization algorithm.
func (t *Tokenizer) Model() Model { return t.model }

// Pre reports the BPE pre-tokenizer (tokenizer.ggml.pre, "default" when
// the file has none; "" for SentencePiece).
func (t *Tokenizer) Pre() string { return t.preName }

// VocabSize is the number of tokens; valid ids are 0 to VocabSize()-1.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// BOS returns the beginning-of-sequence token. Like llama.cpp, it falls
// back to the family's conventional id (1 for SentencePiece, 11 for GPT-2
// BPE) when the file names none, as long as the vocabulary reaches it;
// whether Encode adds it is AddBOS.
func (t *Tokenizer) BOS() (int32, bool) { return t.bos, t.bos != none }

// EOS returns the end-of-sequence token, with BOS's fallback (2, 11).
func (t *Tokenizer) EOS() (int32, bool) { return t.eos, t.eos != none }

// EOT returns the end-of-turn token: tokenizer.ggml.eot_token_id, or a
// token with a well-known end-of-turn name (<|eot_id|>, <|im_end|>, ...).
func (t *Tokenizer) EOT() (int32, bool) { return t.eot, t.eot != none }

// IsEOG reports whether generation should stop at id: eos, eot, eom, and
// the tokens llama.cpp treats as ending a turn by their name.
func (t *Tokenizer) IsEOG(id int32) bool { return t.eog[id] }

// EOGs returns the end-of-generation tokens, in increasing order.
func (t *Tokenizer) EOGs() []int32 {
	ids := make([]int32, 0, len(t.eog))
	for id := range t.eog {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// AddBOS reports whether Encode with addSpecial adds BOS. A WordPiece
// vocabulary always does (BOS is its [CLS]).
func (t *Tokenizer) AddBOS() bool {
	return (t.addBOS || t.model == WordPiece) && t.bos != none
}

// SEP returns the separator token that Encode with addSpecial appends to
// the text of a WordPiece vocabulary ([SEP]); other vocabularies have none.
func (t *Tokenizer) SEP() (int32, bool) {
	return t.sep, t.sep != none && t.model == WordPiece
}

// AddEOS reports whether Encode with addSpecial adds EOS.
func (t *Tokenizer) AddEOS() bool { return t.addEOS && t.eos != none }

// Text returns the vocabulary text of a token ("▁Hello", "Ġworld",
// "<|im_start|>"), or "" for an id out of range.
func (t *Tokenizer) Text(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// Type returns the token's type as loaded, after llama.cpp's adjustments
// (for instance a normal-typed "<|im_end|>" is control).
func (t *Tokenizer) Type(id int32) TokenType {
	if id < 0 || int(id) >= len(t.tokens) {
		return TypeUndefined
	}
	a := t.attrs[id]
	switch {
	case a&attrUnknown != 0:
		return TypeUnknown
	case a&attrControl != 0:
		return TypeControl
	case a&attrUserDefined != 0:
		return TypeUserDefined
	case a&attrUnused != 0:
		return TypeUnused
	case a&attrByte != 0:
		return TypeByte
	case a&attrNormal != 0:
		return TypeNormal
	}
	return TypeUndefined
}

// TokenID returns the id of the token whose vocabulary text is s.
func (t *Tokenizer) TokenID(s string) (int32, bool) { return t.token(s) }

// Piece returns the bytes a token decodes to: for a normal token its text
// with the vocabulary's encoding undone (▁ to space, GPT-2's byte mapping
// reversed), for a byte token its byte, for control, unknown and
// user-defined tokens their text. Unused tokens and ids out of range give
// an empty piece. A piece may be part of a UTF-8 sequence.
func (t *Tokenizer) Piece(id int32) []byte {
	return append([]byte(nil), t.piece(id, true)...)
}

// piece returns the cached piece, or nil when special is false and the
// token is control or unknown (llama.cpp's token_to_piece).
func (t *Tokenizer) piece(id int32, special bool) []byte {
	if id < 0 || int(id) >= len(t.tokens) {
		return nil
	}
	if !special && t.attrs[id]&(attrUnknown|attrControl) != 0 {
		return nil
	}
	return t.pieces[t.pieceAt[id]:t.pieceAt[id+1]]
}
