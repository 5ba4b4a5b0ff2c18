package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/raym33/ainative/internal/gguf"
)

// Model is a model ready to load: the files to memory-map, in order.
type Model struct {
	Name     Name
	ID       string
	Manifest *Manifest
	// Paths are the blobs' files: one GGUF, or the parts of a split GGUF
	// (the first holds the metadata; each holds its share of the tensors,
	// as llama.cpp's gguf-split writes them). gguf.OpenSplit(Paths) opens
	// either as one gguf.File.
	Paths []string
}

// Resolve finds a model by name for loading. Every blob is checked first:
// present, of its size, and hashed again unless it is the very file last
// verified; a corrupt blob is deleted and the error (ErrCorrupt) says to
// pull the model again. An unknown name is ErrNotFound.
func (s *Store) Resolve(ctx context.Context, name string) (*Model, error) {
	n, m, id, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	mod := &Model{Name: n, ID: id, Manifest: m}
	for _, l := range m.Layers {
		if err := s.checkBlob(ctx, l.Digest, l.Size, false); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		mod.Paths = append(mod.Paths, s.blobPath(l.Digest))
	}
	return mod, nil
}

// Info summarises a model for people (ainative show, Ollama's /api/show).
type Info struct {
	Name    string    `json:"name"`
	ID      string    `json:"id"`
	Source  string    `json:"source,omitempty"`
	Created time.Time `json:"created"`
	Size    int64     `json:"size"`
	Files   []Layer   `json:"files"`
	Paths   []string  `json:"paths"`
	Tensors int       `json:"tensors"`

	Architecture    string `json:"architecture"`
	ModelName       string `json:"model_name,omitempty"`     // general.name
	SizeLabel       string `json:"size_label,omitempty"`     // general.size_label, e.g. 0.5B
	Parameters      int64  `json:"parameters"`               // general.parameter_count, else counted
	FileType        string `json:"file_type,omitempty"`      // the quantization, from general.file_type
	ContextLength   int64  `json:"context_length,omitempty"` // ARCH.context_length
	EmbeddingLength int64  `json:"embedding_length,omitempty"`
	BlockCount      int64  `json:"block_count,omitempty"`
	License         string `json:"license,omitempty"`
	ChatTemplate    string `json:"chat_template,omitempty"`
	// Sampling holds the generation defaults the file recommends
	// (general.sampling.*, e.g. temp, top_k, top_p), by key suffix.
	Sampling map[string]any `json:"sampling,omitempty"`
}

// Show resolves a model and reads its summary from its GGUF metadata.
func (s *Store) Show(ctx context.Context, name string) (*Info, error) {
	m, err := s.Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	info := &Info{Name: m.Name.String(), ID: m.ID, Source: m.Manifest.Source, Created: m.Manifest.Created,
		Size: m.Manifest.Size(), Files: m.Manifest.Layers, Paths: m.Paths}
	f, err := gguf.OpenSplit(m.Paths)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Name, err)
	}
	defer f.Close()
	info.Tensors = len(f.Tensors)
	readSummary(f, info)
	if info.Parameters == 0 {
		for _, t := range f.Tensors {
			info.Parameters += int64(t.Elements())
		}
	}
	return info, nil
}

func readSummary(f *gguf.File, info *Info) {
	str := func(k string) string { v, _ := f.OptString(k, ""); return v }
	num := func(k string) int64 { v, _ := f.Int(k); return v }
	info.Architecture = str("general.architecture")
	info.ModelName = str("general.name")
	info.SizeLabel = str("general.size_label")
	info.Parameters = num("general.parameter_count")
	if f.Has("general.file_type") {
		info.FileType = FileTypeName(num("general.file_type"))
	}
	if a := info.Architecture; a != "" {
		info.ContextLength = num(a + ".context_length")
		info.EmbeddingLength = num(a + ".embedding_length")
		info.BlockCount = num(a + ".block_count")
	}
	info.License = str("general.license")
	if name := str("general.license.name"); name != "" && name != info.License {
		info.License = strings.TrimSpace(info.License + " " + name)
	}
	if link := str("general.license.link"); link != "" {
		info.License = strings.TrimSpace(info.License + " " + link)
	}
	info.ChatTemplate = str("tokenizer.chat_template")
	for _, kv := range f.Metadata {
		if k, ok := strings.CutPrefix(kv.Key, "general.sampling."); ok {
			if info.Sampling == nil {
				info.Sampling = map[string]any{}
			}
			info.Sampling[k] = kv.Value.Any()
		}
	}
}

// fileTypes are llama.cpp's llama_ftype names, as general.file_type
// stores them.
var fileTypes = map[int64]string{
	0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
	10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
	16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
	22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
	28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
	37: "TQ2_0", 38: "MXFP4_MOE",
}

// FileTypeName names a general.file_type value.
func FileTypeName(ft int64) string {
	if s, ok := fileTypes[ft]; ok {
		return s
	}
	return fmt.Sprintf("file type %d", ft)
}
