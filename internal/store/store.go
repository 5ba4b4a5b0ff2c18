// Package store keeps the models of ainative: GGUF files stored once each
// as content-addressed blobs (blobs/sha256-HEX), and manifests
// (manifests/HOST/PATH/TAG) that give a model's name the list of its
// blobs, so that a model imported twice, or pulled under two names, takes
// its space once. The layout is Ollama's (its manifests' JSON is not),
// under $AINATIVE_HOME/models; verified/ records, per blob, the file last
// hashed (see below), and tmp/ holds partial downloads and locks.
//
// A blob becomes visible only whole and checked: downloads and imports go
// to tmp/, are synced and hashed, and are renamed into blobs/ only when
// their sha256 is the one expected. Partial downloads stay in tmp/ under
// their expected digest so that a pull cut short, even by kill -9, resumes
// with an HTTP Range request. File locks (flock) keep two processes from
// writing one partial file at once; manifests are written atomically.
//
// A blob is hashed again whenever it is handed out (Resolve) and its file
// differs (inode, size, modification or change time) from the one last
// verified; one found corrupt is deleted and refused, and the next pull
// fetches it again.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/raym33/ainative/internal/atomicfile"
	"github.com/raym33/ainative/internal/store/hub"
)

// MediaTypeGGUF marks a manifest layer holding a GGUF file (or one part
// of a split GGUF).
const MediaTypeGGUF = "application/vnd.ainative.model.gguf"

// ErrNotFound reports a model name the store does not have.
var ErrNotFound = errors.New("model not found")

// ErrCorrupt reports a blob whose contents do not match its digest.
var ErrCorrupt = errors.New("blob is corrupt")

// Store is a model store rooted at one directory.
type Store struct {
	dir string
	// Hub is the client pulls use; FromEnv's by default.
	Hub *hub.Client
	// Memory returns the bytes a model may use on this machine, to pick
	// a quantization when a pull names none; nil means the memory that
	// internal/hw finds available.
	Memory func(ctx context.Context) int64
	// StallTimeout is how long a download may receive nothing before it
	// is resumed on a new connection; 0 means DefaultStallTimeout.
	StallTimeout time.Duration
	// Log receives debug messages; nil means slog.Default().
	Log *slog.Logger
}

// DefaultDir is $AINATIVE_HOME/models, where AINATIVE_HOME defaults to
// /var/lib/ainative for root and ~/.ainative for everyone else.
func DefaultDir() (string, error) {
	home := os.Getenv("AINATIVE_HOME")
	if home == "" {
		if os.Geteuid() == 0 {
			home = "/var/lib/ainative"
		} else {
			h, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("finding the model store: %w (set AINATIVE_HOME)", err)
			}
			home = filepath.Join(h, ".ainative")
		}
	}
	return filepath.Join(home, "models"), nil
}

// Open opens the store at dir, creating its directories.
func Open(dir string) (*Store, error) {
	for _, sub := range []string{"blobs", "manifests", "tmp", "verified"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("opening the model store: %w", err)
		}
	}
	return &Store{dir: dir, Hub: hub.FromEnv()}, nil
}

// Dir is the store's root directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Manifest lists the blobs of one model.
type Manifest struct {
	SchemaVersion int       `json:"schemaVersion"`
	Name          string    `json:"name"`
	Source        string    `json:"source,omitempty"` // where it came from: a hub file, a URL, an imported path
	Created       time.Time `json:"created"`
	Layers        []Layer   `json:"layers"`
}

// Layer is one blob of a model: a GGUF, or one part of a split GGUF, in
// order.
type Layer struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"` // "sha256:HEX"
	Size      int64  `json:"size"`
	Filename  string `json:"filename,omitempty"` // the file's name where it came from
}

// Size is the total size of the model's blobs.
func (m *Manifest) Size() int64 {
	var n int64
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

func (m *Manifest) check() error {
	if m.SchemaVersion != 1 {
		return fmt.Errorf("schemaVersion %d is not 1", m.SchemaVersion)
	}
	if len(m.Layers) == 0 {
		return fmt.Errorf("no layers")
	}
	for _, l := range m.Layers {
		if _, err := digestHex(l.Digest); err != nil {
			return err
		}
		if l.Size < 0 {
			return fmt.Errorf("layer %s: negative size", l.Digest)
		}
	}
	return nil
}

// digestHex checks a "sha256:HEX" digest and returns HEX.
func digestHex(d string) (string, error) {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		return "", fmt.Errorf("digest %q is not sha256:<64 hex digits>", d)
	}
	return h, nil
}

func (s *Store) blobPath(digest string) string {
	return filepath.Join(s.dir, "blobs", strings.Replace(digest, ":", "-", 1))
}

func (s *Store) manifestFile(n Name) string {
	return filepath.Join(s.dir, "manifests", filepath.FromSlash(n.manifestPath()))
}

// readManifest reads the manifest of n, also returning its ID (the
// first 12 hex digits of its sha256, as Ollama shows).
func (s *Store) readManifest(n Name) (*Manifest, string, error) {
	data, err := os.ReadFile(s.manifestFile(n))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("%w: %s (see `ainative list`, or pull it)", ErrNotFound, n)
	}
	if err != nil {
		return nil, "", err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, "", fmt.Errorf("manifest of %s: %w", n, err)
	}
	if err := m.check(); err != nil {
		return nil, "", fmt.Errorf("manifest of %s: %w", n, err)
	}
	sum := sha256.Sum256(data)
	return &m, hex.EncodeToString(sum[:6]), nil
}

func (s *Store) writeManifest(n Name, m *Manifest) error {
	m.SchemaVersion = 1
	m.Name = n.String()
	if err := m.check(); err != nil {
		return fmt.Errorf("manifest of %s: %w", n, err)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	path := s.manifestFile(n)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, 0o644, append(data, '\n'))
}

// lookup parses a name and finds its manifest; an alias not pulled yet is
// looked up under its own name.
func (s *Store) lookup(name string) (Name, *Manifest, string, error) {
	n, err := ParseName(name)
	if err != nil {
		return Name{}, nil, "", err
	}
	m, id, err := s.readManifest(n)
	return n, m, id, err
}

// Entry is one model in a listing.
type Entry struct {
	Name     string    `json:"name"`
	ID       string    `json:"id"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified_at"`
	Digests  []string  `json:"digests"`
}

// List lists the models, by name.
func (s *Store) List() ([]Entry, error) {
	root := filepath.Join(s.dir, "manifests")
	var out []Entry
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil // atomicfile's temporary files start with a dot
		}
		rel, _ := filepath.Rel(root, path)
		n, ok := nameFromManifestPath(filepath.ToSlash(rel))
		if !ok {
			s.log().Warn("ignoring a file that is not a manifest", "path", path)
			return nil
		}
		m, id, err := s.readManifest(n)
		if err != nil {
			s.log().Warn("ignoring a bad manifest", "path", path, "err", err)
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := Entry{Name: n.String(), ID: id, Size: m.Size(), Modified: fi.ModTime()}
		for _, l := range m.Layers {
			e.Digests = append(e.Digests, l.Digest)
		}
		out = append(out, e)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

func nameFromManifestPath(rel string) (Name, bool) {
	parts := strings.Split(rel, "/")
	if len(parts) < 3 {
		return Name{}, false
	}
	host, tag := parts[0], parts[len(parts)-1]
	s := strings.Join(parts[1:len(parts)-1], "/") + ":" + tag
	if host != "local" {
		s = host + "/" + s
	}
	n, err := ParseName(s)
	if err != nil || n.manifestPath() != rel {
		return Name{}, false
	}
	return n, true
}

// Copy makes dst another name for src's blobs.
func (s *Store) Copy(ctx context.Context, src, dst string) error {
	_, m, _, err := s.lookup(src)
	if err != nil {
		return err
	}
	dn, err := ParseName(dst)
	if err != nil {
		return err
	}
	unlock, err := s.lockShared(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	for _, l := range m.Layers {
		if _, err := os.Stat(s.blobPath(l.Digest)); err != nil {
			return fmt.Errorf("copying %s: blob %s: %w", src, l.Digest, err)
		}
	}
	cp := *m
	cp.Created = time.Now().UTC()
	return s.writeManifest(dn, &cp)
}

// Remove deletes a model's name, and then the blobs no other name uses.
// It returns the bytes freed. Blobs are kept, to be freed by a later
// Remove or Prune, while another process pulls or imports.
func (s *Store) Remove(ctx context.Context, name string) (int64, error) {
	n, _, _, err := s.lookup(name)
	if err != nil {
		return 0, err
	}
	path := s.manifestFile(n)
	if err := os.Remove(path); err != nil {
		return 0, err
	}
	// Remove directories the manifest leaves empty (up to manifests/).
	root := filepath.Join(s.dir, "manifests")
	for d := filepath.Dir(path); d != root && strings.HasPrefix(d, root); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
	}
	return s.Prune(ctx)
}

// Prune deletes the blobs no manifest refers to, and returns the bytes
// freed. It does nothing (and no harm) while another process holds the
// store for a pull, import or copy, whose blobs are not yet named.
func (s *Store) Prune(ctx context.Context) (int64, error) {
	unlock, ok, err := s.tryLockExclusive()
	if err != nil || !ok {
		return 0, err
	}
	defer unlock()
	used := map[string]bool{}
	entries, err := s.List()
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		for _, d := range e.Digests {
			used[d] = true
		}
	}
	blobs, err := os.ReadDir(filepath.Join(s.dir, "blobs"))
	if err != nil {
		return 0, err
	}
	var freed int64
	for _, b := range blobs {
		d := strings.Replace(b.Name(), "-", ":", 1)
		if _, err := digestHex(d); err != nil || used[d] {
			continue
		}
		if fi, err := b.Info(); err == nil {
			freed += fi.Size()
		}
		if err := os.Remove(s.blobPath(d)); err != nil {
			return freed, err
		}
		os.Remove(s.stampPath(d))
		s.log().Debug("removed unused blob", "digest", d)
	}
	return freed, nil
}
