package chat

import (
	"fmt"

	"github.com/raym33/ainative/internal/gguf"
)

// GGUF metadata keys of the template and the special tokens.
const (
	keyTemplate = "tokenizer.chat_template"
	keyTokens   = "tokenizer.ggml.tokens"
	keyBOS      = "tokenizer.ggml.bos_token_id"
	keyEOS      = "tokenizer.ggml.eos_token_id"
)

// TokensFromGGUF reads the texts of the model's BOS and EOS tokens; a model
// without one of them gets "" for it, as transformers passes an unset token.
func TokensFromGGUF(f *gguf.File) (Tokens, error) {
	var tk Tokens
	if !f.Has(keyBOS) && !f.Has(keyEOS) {
		return tk, nil
	}
	vocab, err := f.Strings(keyTokens)
	if err != nil {
		return tk, err
	}
	text := func(key string) (string, error) {
		if !f.Has(key) {
			return "", nil
		}
		id, err := f.Uint(key)
		if err != nil {
			return "", err
		}
		if id >= uint64(len(vocab)) {
			return "", fmt.Errorf("gguf: %s %d is outside the vocabulary of %d tokens", key, id, len(vocab))
		}
		return vocab[id], nil
	}
	if tk.BOS, err = text(keyBOS); err != nil {
		return tk, err
	}
	if tk.EOS, err = text(keyEOS); err != nil {
		return tk, err
	}
	return tk, nil
}

// FromGGUF compiles the chat template of a model file, with its BOS and
// EOS texts. override, when not empty, names the template to use instead
// of the file's own: the built-in "chatml", or a named variant the file
// carries as tokenizer.chat_template.<name> (e.g. "tool_use").
func FromGGUF(model string, f *gguf.File, override string) (*Template, error) {
	tokens, err := TokensFromGGUF(f)
	if err != nil {
		return nil, &Error{Model: model, Err: err}
	}
	var src string
	switch {
	case override == "":
		if src, err = f.OptString(keyTemplate, ""); err != nil {
			return nil, &Error{Model: model, Err: err}
		}
	default:
		if b, ok := Builtin(override); ok {
			src = b
			break
		}
		key := keyTemplate + "." + override
		if !f.Has(key) {
			return nil, &Error{Model: model, Err: fmt.Errorf("no template named %q (the built-in one is %q; the file has none under %s)", override, ChatML, key)}
		}
		if src, err = f.String(key); err != nil {
			return nil, &Error{Model: model, Err: err}
		}
	}
	return Compile(model, src, tokens)
}
