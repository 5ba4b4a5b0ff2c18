package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// LinesOptions say what ProcessLines does with each line.
type LinesOptions struct {
	AddSpecial, ParseSpecial bool // for Encode
	// Decode reads {"ids": [...]} lines and writes {"ids": ..., "text": ...}
	// instead of encoding {"text": ...} lines.
	Decode bool
	// MaxLineBytes bounds the length of a line; 0 means
	// DefaultMaxLineBytes. Encoding costs about a hundred times the
	// text's length in memory at its peak, so a longer line is answered
	// with an error without being read into memory.
	MaxLineBytes int
}

// DefaultMaxLineBytes is the default bound on a line's length: 1 MiB,
// a few hundred pages of text.
const DefaultMaxLineBytes = 1 << 20

// ErrBadLines is returned, wrapped, by ProcessLines when some lines were
// answered with an error.
var ErrBadLines = errors.New("tokenize: some lines were not understood")

// ProcessLines is the `ainative tokenize` filter: it reads JSON objects
// one per line from r ({"text": "..."}, or {"ids": [...]} with
// opt.Decode) and writes one result per line to w ({"text": ..., "ids":
// [...]}), in the same order, as JSON-lines tools do:
//
//   - other fields of the object (an "id", say) are copied to the result,
//     before the result's own fields;
//   - a line that cannot be answered gets {"error": "line N: ..."} (with
//     the other fields, if the line was an object) and the next line is
//     read; ProcessLines then returns an error wrapping ErrBadLines;
//   - blank lines are skipped, and a UTF-8 byte order mark before the
//     first line is ignored;
//   - keys are matched exactly ("TEXT" is not "text"), and anything after
//     the object on its line is an error.
//
// Decoded text that is not valid UTF-8 is written with U+FFFD in place of
// the bad bytes, as JSON requires. Reading errors stop it.
func ProcessLines(t *Tokenizer, r io.Reader, w io.Writer, opt LinesOptions) (err error) {
	limit := opt.MaxLineBytes
	if limit <= 0 {
		limit = DefaultMaxLineBytes
	}
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriter(w)
	defer func() {
		// Write out the lines done before an error too.
		if ferr := bw.Flush(); err == nil {
			err = ferr
		}
	}()
	bad, total := 0, 0
	for n := 1; ; n++ {
		line, tooLong, rerr := readLine(br, limit)
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\uFEFF"))
		}
		if tooLong || len(bytes.TrimSpace(line)) > 0 {
			total++
			var out []byte
			var lerr error
			if tooLong {
				lerr = fmt.Errorf("the line is longer than the limit of %d bytes", limit)
			} else {
				out, lerr = processLine(t, line, opt)
			}
			if lerr != nil {
				bad++
				out = errorLine(line, fmt.Errorf("line %d: %w", n, lerr))
			}
			if _, err := bw.Write(out); err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return fmt.Errorf("line %d: %w", n, rerr)
		}
	}
	if bad > 0 {
		return fmt.Errorf("%w: %d of %d lines", ErrBadLines, bad, total)
	}
	return nil
}

// readLine reads up to and including the next newline. A line longer
// than limit is read to its end but not kept: tooLong reports it.
func readLine(br *bufio.Reader, limit int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > limit+1 { // +1: the newline
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, tooLong, err
		}
	}
}

// field is one member of a line's object, in the order of the line.
type field struct {
	key string
	raw json.RawMessage
}

// object parses line as exactly one JSON object.
func object(line []byte) ([]field, error) {
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) > 0 && trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return nil, badJSON(json.Unmarshal(trimmed, new(any)))
		}
		return nil, fmt.Errorf("want a JSON object, got %s", kind(trimmed))
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if _, err := dec.Token(); err != nil { // the '{'
		return nil, badJSON(err)
	}
	var fields []field
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, badJSON(err)
		}
		key, _ := tok.(string) // a key is always a string
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, badJSON(err)
		}
		if seen[key] {
			return nil, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		fields = append(fields, field{key, raw})
	}
	if _, err := dec.Token(); err != nil { // the '}'
		return nil, badJSON(err)
	}
	if rest := bytes.TrimSpace(line[dec.InputOffset():]); len(rest) > 0 {
		return nil, fmt.Errorf("bad JSON: %q after the object", clip(rest))
	}
	return fields, nil
}

// badJSON describes a syntax error; the decoder's own words for a line
// that ends too soon are a bare "EOF".
func badJSON(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("bad JSON: the line ends inside the object")
	}
	return fmt.Errorf("bad JSON: %w", err)
}

// kind names the type of a JSON value for messages.
func kind(v []byte) string {
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func clip(b []byte) string {
	if len(b) > 20 {
		return string(b[:20]) + "..."
	}
	return string(b)
}

// member returns the value of key, or an error that also points out a key
// differing only in case.
func member(fields []field, key string) (json.RawMessage, error) {
	for _, f := range fields {
		if f.key == key {
			return f.raw, nil
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.key, key) {
			return nil, fmt.Errorf("want an object with %q, got %q (keys are case-sensitive)", key, f.key)
		}
	}
	return nil, fmt.Errorf("want an object with %q", key)
}

// ownKeys are the result's fields: not copied from the input.
var ownKeys = map[string]bool{"text": true, "ids": true, "error": true}

func processLine(t *Tokenizer, line []byte, opt LinesOptions) ([]byte, error) {
	fields, err := object(line)
	if err != nil {
		return nil, err
	}
	if opt.Decode {
		raw, err := member(fields, "ids")
		if err != nil {
			return nil, err
		}
		var ids []int32
		if raw[0] != '[' {
			return nil, fmt.Errorf(`"ids" is %s, want an array of token ids`, kind(raw))
		}
		if err := json.Unmarshal(raw, &ids); err != nil {
			return nil, fmt.Errorf(`"ids" must be an array of token ids (integers from 0): %w`, err)
		}
		for _, id := range ids {
			if id < 0 || int(id) >= t.VocabSize() {
				return nil, fmt.Errorf("token id %d is outside the vocabulary of %d", id, t.VocabSize())
			}
		}
		if ids == nil {
			ids = []int32{}
		}
		return result(fields, "ids", ids, "text", t.Decode(ids)), nil
	}
	raw, err := member(fields, "text")
	if err != nil {
		return nil, err
	}
	if raw[0] != '"' {
		return nil, fmt.Errorf(`"text" is %s, want a string`, kind(raw))
	}
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		return nil, badJSON(err)
	}
	ids := t.Encode(text, opt.AddSpecial, opt.ParseSpecial)
	if ids == nil {
		ids = []int32{}
	}
	return result(fields, "text", text, "ids", ids), nil
}

// result writes one output line: the input's other fields, then the
// result's own key/value pairs.
func result(in []field, kvs ...any) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for _, f := range in {
		if ownKeys[f.key] {
			continue
		}
		appendJSON(&b, f.key)
		b.WriteByte(':')
		if err := json.Compact(&b, f.raw); err != nil {
			b.Write(f.raw) // valid already: the decoder checked it
		}
		b.WriteByte(',')
	}
	for i := 0; i+1 < len(kvs); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		appendJSON(&b, kvs[i])
		b.WriteByte(':')
		appendJSON(&b, kvs[i+1])
	}
	b.WriteString("}\n")
	return b.Bytes()
}

func appendJSON(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)           // strings and []int32 cannot fail
	b.Truncate(b.Len() - 1) // Encode's newline
}

// errorLine answers a line that failed, with its other fields if it was
// an object.
func errorLine(line []byte, err error) []byte {
	fields, ferr := object(line)
	if ferr != nil {
		fields = nil
	}
	return result(fields, "error", err.Error())
}
