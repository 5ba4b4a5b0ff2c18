package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/raym33/ainative/internal/atomicfile"
)

// stamp identifies the file a blob was when last verified; a blob whose
// file still matches need not be hashed again before it is handed out.
// Blobs are never written in place by the store, so any change to one
// (a rewrite, a truncation, a copy over it) shows in these fields.
type stamp struct {
	Ino   uint64 `json:"ino"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime_ns"`
	Ctime int64  `json:"ctime_ns"`
}

func stampOf(fi fs.FileInfo) stamp {
	st := stamp{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.Ino = uint64(sys.Ino)
		st.Ctime = sys.Ctim.Sec*1e9 + sys.Ctim.Nsec
	}
	return st
}

func (s *Store) stampPath(digest string) string {
	return filepath.Join(s.dir, "verified", strings.Replace(digest, ":", "-", 1))
}

func (s *Store) writeStamp(digest string) error {
	fi, err := os.Stat(s.blobPath(digest))
	if err != nil {
		return err
	}
	data, _ := json.Marshal(stampOf(fi))
	return atomicfile.WriteBytes(s.stampPath(digest), 0o644, data)
}

func (s *Store) stampMatches(digest string, fi fs.FileInfo) bool {
	data, err := os.ReadFile(s.stampPath(digest))
	if err != nil {
		return false
	}
	var st stamp
	return json.Unmarshal(data, &st) == nil && st == stampOf(fi)
}

// checkBlob makes sure the blob of digest is present, size bytes long
// and, unless its stamp says it was verified as it is, hashes to its
// digest. force hashes it in any case. A blob found corrupt is deleted.
func (s *Store) checkBlob(ctx context.Context, digest string, size int64, force bool) error {
	path := s.blobPath(digest)
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("blob %s: %w", digest, err)
	}
	if !force && fi.Size() == size && s.stampMatches(digest, fi) {
		return nil
	}
	bad := ""
	if fi.Size() != size {
		bad = fmt.Sprintf("%d bytes, want %d", fi.Size(), size)
	} else {
		got, err := hashFile(ctx, path)
		if err != nil {
			return fmt.Errorf("verifying blob %s: %w", digest, err)
		}
		if got != digest {
			bad = "contents hash to " + got
		}
	}
	if bad != "" {
		os.Remove(path)
		os.Remove(s.stampPath(digest))
		s.log().Warn("deleted a corrupt blob", "digest", digest, "problem", bad)
		return fmt.Errorf("%w: %s (%s); deleted, pull or import the model again", ErrCorrupt, digest, bad)
	}
	return s.writeStamp(digest)
}

// hashFile returns the "sha256:HEX" digest of a file's contents.
func hashFile(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader stops a long copy when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// commitBlob moves a complete, synced and verified temporary file into
// blobs/ as digest. If the blob already exists (another pull or import got
// there first, with the same contents by construction), the temporary
// file is dropped.
func (s *Store) commitBlob(tmp, digest string) error {
	dst := s.blobPath(digest)
	if _, err := os.Stat(dst); err == nil {
		os.Remove(tmp)
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	syncDir(filepath.Dir(dst))
	return s.writeStamp(digest)
}

// syncDir makes a rename into dir durable; best effort, since some file
// systems refuse to sync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Verify hashes every blob of the named model, deleting any that is
// corrupt (ErrCorrupt), which the next pull fetches again.
func (s *Store) Verify(ctx context.Context, name string) error {
	_, m, _, err := s.lookup(name)
	if err != nil {
		return err
	}
	for _, l := range m.Layers {
		if err := s.checkBlob(ctx, l.Digest, l.Size, true); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}
