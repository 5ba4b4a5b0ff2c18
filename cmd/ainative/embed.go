package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/tokenizer"
)

func init() { register(newEmbedCmd) }

// maxEmbedLine bounds one input line, so that a line without an end
// cannot take all memory; a longer line is answered with an error.
const maxEmbedLine = 16 << 20

func newEmbedCmd() *cobra.Command {
	var (
		mf      modelFlags
		pooling string
		raw     bool
		batch   int
	)
	cmd := &cobra.Command{
		Use:   "embed --model M.gguf [--pooling mean|cls|last] [--raw]",
		Short: "Embed JSON lines of text with an embedding model",
		Long: `Read JSON lines {"text": "..."} on standard input and write one line per
input line, in the same order: {"embedding": [...]}, or {"error": "..."}
for a line that cannot be embedded (not such an object, no tokens, longer
than the context). The vectors are L2-normalized, as Ollama's /api/embed
returns them, unless --raw (then they are llama.cpp's pooled vectors).

The pooling is the one the model file names unless --pooling is given.
Encoders (bert, nomic-bert) embed many lines in one pass; decoders
(e.g. qwen3 for Qwen3-Embedding, with last pooling) one line at a time.`,
		Example: `  echo '{"text":"hello world"}' | ainative embed --model all-MiniLM-L6-v2.gguf
  ainative embed --model qwen3-embedding.gguf --pooling last < texts.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := model.PoolingModel
			if pooling != "" {
				var err error
				if p, err = model.ParsePooling(pooling); err != nil || p == model.PoolingNone {
					return fmt.Errorf("--pooling %q: want mean, cls or last", pooling)
				}
			}
			if batch < 1 {
				return fmt.Errorf("--batch %d: want at least 1", batch)
			}
			f, m, err := mf.open()
			if err != nil {
				return err
			}
			defer f.Close()
			defer m.Close()
			if p == model.PoolingModel && m.Pooling() == model.PoolingNone {
				return fmt.Errorf("%s names no pooling: give --pooling mean, cls or last", mf.path)
			}
			tok, err := tokenizer.FromGGUF(f)
			if err != nil {
				return fmt.Errorf("%s: %w", mf.path, err)
			}
			e := &embedder{m: m, tok: tok, opts: model.EmbedOptions{Pooling: p, Normalize: !raw}, batch: batch}
			return e.run(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	mf.register(fl, "f32")
	fl.StringVar(&pooling, "pooling", "", "mean, cls or last (default: the model's)")
	fl.BoolVar(&raw, "raw", false, "write the pooled vectors without L2 normalization")
	fl.IntVar(&batch, "batch", 64, "lines embedded together")
	return cmd
}

type embedder struct {
	m     *model.Model
	tok   *tokenizer.Tokenizer
	opts  model.EmbedOptions
	batch int
}

// embedResult is one output line: exactly one of its fields is set.
type embedResult struct {
	Embedding []float32 `json:"embedding,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// run is the filter: lines from r, answers to w, e.batch lines at a time.
func (e *embedder) run(ctx context.Context, r io.Reader, w io.Writer) (err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriter(w)
	defer func() {
		if ferr := bw.Flush(); err == nil {
			err = ferr
		}
	}()
	enc := json.NewEncoder(bw)
	start, lastLog, lines := time.Now(), time.Now(), 0
	for eof := false; !eof; {
		results := make([]embedResult, 0, e.batch)
		var inputs [][]int32
		var at []int // results index of each input
		for len(results) < e.batch {
			line, rerr := readLine(br, maxEmbedLine)
			if errors.Is(rerr, io.EOF) && line == nil {
				eof = true
				break
			}
			var res embedResult
			switch {
			case errors.Is(rerr, errLineTooLong):
				res.Error = errLineTooLong.Error()
			case rerr != nil && !errors.Is(rerr, io.EOF):
				return fmt.Errorf("line %d: %w", lines+len(results)+1, rerr)
			default:
				ids, msg := e.tokenize(line)
				if msg != "" {
					res.Error = msg
				} else {
					inputs = append(inputs, ids)
					at = append(at, len(results))
				}
			}
			results = append(results, res)
			if rerr != nil && errors.Is(rerr, io.EOF) {
				eof = true
				break
			}
		}
		if len(inputs) > 0 {
			vecs, err := e.m.Embed(ctx, inputs, e.opts)
			if err != nil {
				return err
			}
			for i, v := range vecs {
				results[at[i]].Embedding = v
			}
		}
		for _, res := range results {
			if err := enc.Encode(res); err != nil {
				return err
			}
		}
		lines += len(results)
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			if err := bw.Flush(); err != nil {
				return err
			}
			slog.Info("embedding", "lines", lines, "lines_per_s", float64(lines)/time.Since(start).Seconds())
		}
	}
	slog.Debug("embedded", "lines", lines, "seconds", time.Since(start).Seconds())
	return nil
}

// tokenize parses one input line and returns its ids, or the message of
// the error line that answers it.
func (e *embedder) tokenize(line []byte) ([]int32, string) {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, `empty line: want {"text": ...}`
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var in struct {
		Text *string `json:"text"`
	}
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Sprintf("bad JSON: %v", err)
	}
	if dec.More() {
		return nil, "bad JSON: more than one value on the line"
	}
	if in.Text == nil {
		return nil, `want an object with "text"`
	}
	ids := e.tok.Encode(*in.Text, true, false)
	switch {
	case len(ids) == 0:
		return nil, "the text has no tokens"
	case len(ids) > e.m.ContextLength():
		return nil, fmt.Sprintf("the text is %d tokens, more than the context length %d", len(ids), e.m.ContextLength())
	}
	return ids, ""
}

var errLineTooLong = fmt.Errorf("line longer than %d bytes", maxEmbedLine)

// readLine returns the next line without its newline. A line longer than
// limit is consumed and reported as errLineTooLong; the last line of the
// input comes with io.EOF, as does a nil line at the end.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > limit+1 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if tooLong {
			if err == nil {
				err = errLineTooLong
			} else if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w (%w)", errLineTooLong, io.EOF)
			}
			return []byte{}, err
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return nil, io.EOF
		}
		return bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")), err
	}
}
