package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/sample"
	"github.com/raym33/ainative/internal/tokenizer"
)

func init() { register(newTokenizeCmd) }

func newTokenizeCmd() *cobra.Command {
	var (
		path string
		opt  tokenizer.LinesOptions
	)
	cmd := &cobra.Command{
		Use:   "tokenize --model M.gguf [--add-special] [--parse-special] [--decode]",
		Short: "Tokenize JSON lines of text with a model's vocabulary",
		Long: `Read JSON lines {"text": "..."} on standard input and write
{"text": ..., "ids": [...]} for each, with the tokenizer of a GGUF file
(the ids llama.cpp gives for the same file).

With --decode, read {"ids": [...]} lines and write {"ids": ..., "text": ...}.

Other fields of a line's object (an "id", say) are copied to its answer.
A line that cannot be answered gets {"error": "line N: ..."} and the
next line is read; the exit status is then 1.`,
		Example: `  echo '{"text":"Hello world"}' | ainative tokenize --model qwen3.gguf
  echo '{"ids":[9707,1879]}' | ainative tokenize --model qwen3.gguf --decode`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if path == "" {
				return errors.New("--model is required")
			}
			if err := sample.CheckAtLeast("max-line-bytes", "max_line_bytes", opt.MaxLineBytes, 1); err != nil {
				return err
			}
			f, err := gguf.Open(path)
			if err != nil {
				return err
			}
			tk, err := tokenizer.FromGGUF(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			return tokenizer.ProcessLines(tk, cmd.InOrStdin(), cmd.OutOrStdout(), opt)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&path, "model", "", "GGUF file whose vocabulary to use (required)")
	fl.BoolVar(&opt.AddSpecial, "add-special", false, "add BOS/EOS where the vocabulary asks for them")
	fl.BoolVar(&opt.ParseSpecial, "parse-special", false, `turn special token text such as "<|im_start|>" into the token`)
	fl.BoolVar(&opt.Decode, "decode", false, `read {"ids": [...]} lines and write their text`)
	fl.IntVar(&opt.MaxLineBytes, "max-line-bytes", tokenizer.DefaultMaxLineBytes, "longest input line; longer ones are answered with an error")
	return cmd
}
