package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/raym33/ainative/internal/gguf"
)

// Import stores the GGUF at file under name. The first part of a split
// GGUF (NAME-00001-of-0000N.gguf) brings every part, which must lie beside
// it. The file is copied, not linked, so that later changes to it cannot
// reach the store; each copy is checked to be a well-formed GGUF before it
// becomes a blob, and a file already stored (by content) is stored once.
func (s *Store) Import(ctx context.Context, file, name string, progress func(Progress)) (Name, error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	n, err := ParseName(name)
	if err != nil {
		return Name{}, err
	}
	files, err := splitSiblings(file)
	if err != nil {
		return Name{}, err
	}
	unlock, err := s.lockShared(ctx)
	if err != nil {
		return Name{}, err
	}
	defer unlock()
	abs, _ := filepath.Abs(file)
	m := &Manifest{Source: "import:" + abs, Created: time.Now().UTC()}
	for _, f := range files {
		l, err := s.importFile(ctx, f, progress)
		if err != nil {
			return Name{}, err
		}
		m.Layers = append(m.Layers, l)
	}
	return s.nameModel(n, m, progress)
}

// splitSiblings returns file, or all the parts of the split GGUF whose
// first part it is.
func splitSiblings(file string) ([]string, error) {
	base, i, parts, ok := SplitPart(filepath.Base(file))
	if !ok {
		return []string{file}, nil
	}
	if i != 1 {
		return nil, fmt.Errorf("%s is part %d of a split GGUF: import part 1, which brings all %d", file, i, parts)
	}
	var files []string
	for k := 1; k <= parts; k++ {
		p := filepath.Join(filepath.Dir(file), fmt.Sprintf("%s-%05d-of-%05d.gguf", base, k, parts))
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("split GGUF %s: part %d: %w", file, k, err)
		}
		files = append(files, p)
	}
	return files, nil
}

func (s *Store) importFile(ctx context.Context, file string, progress func(Progress)) (Layer, error) {
	src, err := os.Open(file)
	if err != nil {
		return Layer{}, err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return Layer{}, err
	}
	if !fi.Mode().IsRegular() {
		return Layer{}, fmt.Errorf("%s is not a regular file", file)
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "import-*")
	if err != nil {
		return Layer{}, err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name()) // gone already once committed
	}()
	status := "copying " + filepath.Base(file)
	h := sha256.New()
	pw := &progressWriter{report: progress, status: status, total: fi.Size()}
	size, err := io.Copy(io.MultiWriter(tmp, h, pw), ctxReader{ctx, src})
	if err != nil {
		return Layer{}, fmt.Errorf("copying %s: %w", file, err)
	}
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp makes it 0600; a daemon of another user reads blobs
		return Layer{}, err
	}
	if err := tmp.Sync(); err != nil {
		return Layer{}, err
	}
	g, err := gguf.Open(tmp.Name())
	if err != nil {
		if errors.Is(err, gguf.ErrFormat) {
			return Layer{}, fmt.Errorf("%s is not a GGUF model: %w", file, err)
		}
		return Layer{}, fmt.Errorf("reading %s: %w", file, err)
	}
	g.Close()
	digest := "sha256:" + hex.EncodeToString(h.Sum(nil))
	progress(Progress{Status: status, Digest: digest, Total: size, Completed: size})
	if err := tmp.Close(); err != nil {
		return Layer{}, err
	}
	if err := s.commitBlob(tmp.Name(), digest); err != nil {
		return Layer{}, err
	}
	return Layer{MediaType: MediaTypeGGUF, Digest: digest, Size: size, Filename: filepath.Base(file)}, nil
}

// progressWriter reports bytes copied, at most every progressEvery.
type progressWriter struct {
	report func(Progress)
	status string
	total  int64
	done   int64
	last   time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if now := time.Now(); now.Sub(p.last) >= progressEvery {
		p.last = now
		p.report(Progress{Status: p.status, Total: p.total, Completed: p.done})
	}
	return len(b), nil
}
