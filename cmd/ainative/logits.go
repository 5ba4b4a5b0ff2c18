package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/atomicfile"
	"github.com/raym33/ainative/internal/model"
)

func init() { register(newLogitsCmd) }

func newLogitsCmd() *cobra.Command {
	var mf modelFlags
	var tokens, out string
	cmd := &cobra.Command{
		Use:   "logits --model M.gguf --tokens 1,2,3 --out F.f32",
		Short: "Write a model's logits for every position of a token sequence",
		Long: `Evaluate the tokens in one batch and write the logits after every
position as little-endian float32 [n_tokens][n_vocab], the format of
llama.cpp-derived golden files. The KV cache is F32 by default here, as
in the golden files' reference runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := parseTokens(tokens)
			if err != nil {
				return fmt.Errorf("--tokens: %w", err)
			}
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			f, m, err := mf.open()
			if err != nil {
				return err
			}
			defer f.Close()
			defer m.Close()
			logits, err := m.Forward(cmd.Context(), m.NewSequence(), ids, model.OutputAll, nil)
			if err != nil {
				return err
			}
			return atomicfile.Write(out, 0o644, func(w io.Writer) error { return writeF32(w, logits) })
		},
	}
	mf.register(cmd.Flags(), "f32")
	cmd.Flags().StringVar(&tokens, "tokens", "", "token ids, comma-separated (required)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "output file (required)")
	return cmd
}

func writeF32(w io.Writer, v []float32) error {
	bw := bufio.NewWriter(w)
	var b [4]byte
	for _, x := range v {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
		bw.Write(b[:])
	}
	return bw.Flush()
}
