package gguf

import (
	"errors"
	"fmt"
)

// OpenSplit opens a model stored as one GGUF file, or as the parts of a
// split GGUF in order, as one File. llama.cpp's gguf-split writes each
// part as a GGUF of its own: every part carries split.no (its index from
// 0), split.count and split.tensors.count, the first also the model's
// metadata, and each part its share of the tensors. The File
// returned has the first part's metadata and every part's tensors; a
// tensor's Offset is within its own part, and TensorData finds the part.
// Close closes every part.
func OpenSplit(paths []string) (*File, error) {
	switch len(paths) {
	case 0:
		return nil, errors.New("gguf: no files to open")
	case 1:
		return Open(paths[0])
	}
	var parts []*File
	for _, p := range paths {
		f, err := Open(p)
		if err != nil {
			closeAll(parts)
			return nil, err
		}
		parts = append(parts, f)
	}
	f, err := merge(parts)
	if err != nil {
		closeAll(parts)
		return nil, err
	}
	return f, nil
}

func merge(parts []*File) (*File, error) {
	for i, p := range parts {
		no, err := p.Uint("split.no")
		if err != nil {
			return nil, fmt.Errorf("gguf: split part %s: %w", p.Path, err)
		}
		count, err := p.Uint("split.count")
		if err != nil {
			return nil, fmt.Errorf("gguf: split part %s: %w", p.Path, err)
		}
		if no != uint64(i) || count != uint64(len(parts)) {
			return nil, fmt.Errorf("gguf: %s is part %d of %d, given as part %d of %d", p.Path, no+1, count, i+1, len(parts))
		}
	}
	first := parts[0]
	f := &File{Path: first.Path, Version: first.Version, Metadata: first.Metadata, Alignment: first.Alignment,
		DataOffset: first.DataOffset, kv: first.kv, tensors: map[string]int{}, parts: parts, refs: 1}
	for i, p := range parts {
		for _, t := range p.Tensors {
			if _, dup := f.tensors[t.Name]; dup {
				return nil, fmt.Errorf("gguf: tensor %q is in two parts of %s", t.Name, first.Path)
			}
			f.tensors[t.Name] = len(f.Tensors)
			f.Tensors = append(f.Tensors, t)
			f.partOf = append(f.partOf, i)
		}
	}
	if n, err := first.OptUint("split.tensors.count", uint64(len(f.Tensors))); err != nil || n != uint64(len(f.Tensors)) {
		return nil, fmt.Errorf("gguf: %s: split.tensors.count is %d, the parts hold %d tensors (%v)", first.Path, n, len(f.Tensors), err)
	}
	return f, nil
}

func closeAll(files []*File) error {
	var errs []error
	for _, f := range files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
