package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// LinesOptions say what ProcessLines does with each line.
type LinesOptions struct {
	AddSpecial, ParseSpecial bool // for Encode
	// Decode reads {"ids": [...]} lines and writes {"ids": ..., "text": ...}
	// instead of encoding {"text": ...} lines.
	Decode bool
}

type textLine struct {
	Text *string `json:"text"`
}

type idsLine struct {
	IDs *[]int32 `json:"ids"`
}

type outLine struct {
	Text string  `json:"text"`
	IDs  []int32 `json:"ids"`
}

type outDecoded struct {
	IDs  []int32 `json:"ids"`
	Text string  `json:"text"`
}

// ProcessLines is the `ainative tokenize` filter: it reads JSON objects
// one per line from r ({"text": "..."}, or {"ids": [...]} with
// opt.Decode) and writes one result per line to w ({"text": ..., "ids":
// [...]}). Blank lines are skipped. A line that is not such an object
// stops it with an error naming the line number. Decoded text that is not
// valid UTF-8 is written with U+FFFD in place of the bad bytes, as JSON
// requires.
func ProcessLines(t *Tokenizer, r io.Reader, w io.Writer, opt LinesOptions) (err error) {
	br := bufio.NewReader(r)
	bw := bufio.NewWriter(w)
	defer func() {
		// Write out the lines done before an error too.
		if ferr := bw.Flush(); err == nil {
			err = ferr
		}
	}()
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for n := 1; ; n++ {
		line, rerr := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if err := processLine(t, enc, line, opt); err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
		}
		if errors.Is(rerr, io.EOF) {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("line %d: %w", n, rerr)
		}
	}
}

func processLine(t *Tokenizer, enc *json.Encoder, line []byte, opt LinesOptions) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if opt.Decode {
		var in idsLine
		if err := decodeOne(dec, &in); err != nil {
			return err
		}
		if in.IDs == nil {
			return errors.New(`want an object with "ids"`)
		}
		for _, id := range *in.IDs {
			if id < 0 || int(id) >= t.VocabSize() {
				return fmt.Errorf("token id %d is outside the vocabulary of %d", id, t.VocabSize())
			}
		}
		return enc.Encode(outDecoded{IDs: *in.IDs, Text: t.Decode(*in.IDs)})
	}
	var in textLine
	if err := decodeOne(dec, &in); err != nil {
		return err
	}
	if in.Text == nil {
		return errors.New(`want an object with "text"`)
	}
	ids := t.Encode(*in.Text, opt.AddSpecial, opt.ParseSpecial)
	if ids == nil {
		ids = []int32{}
	}
	return enc.Encode(outLine{Text: *in.Text, IDs: ids})
}

// decodeOne decodes exactly one JSON value from dec.
func decodeOne(dec *json.Decoder, v any) error {
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("bad JSON: %q is a %s, want %s", te.Field, te.Value, te.Type)
		}
		return fmt.Errorf("bad JSON: %w", err)
	}
	if dec.More() {
		return errors.New("bad JSON: more than one value on the line")
	}
	return nil
}
