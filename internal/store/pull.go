package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/hw"
	"github.com/raym33/ainative/internal/store/hub"
)

// ErrDigestMismatch reports a download whose contents do not hash to the
// sha256 the hub listed (or the X-Linked-Etag it sent): the file is not
// stored.
var ErrDigestMismatch = errors.New("downloaded file does not match its sha256")

// Progress is one step of a pull, shaped like the stream of Ollama's
// /api/pull: a status, and for a blob being fetched its digest and bytes.
type Progress struct {
	Status    string `json:"status"`
	Digest    string `json:"digest,omitempty"`
	Total     int64  `json:"total,omitempty"`
	Completed int64  `json:"completed,omitempty"`
}

// PullOptions tune Pull.
type PullOptions struct {
	// Progress, if set, receives the pull's steps, from the calling
	// goroutine; it should return quickly.
	Progress func(Progress)
	// Name names a model pulled from a URL; "" derives one from the file
	// name. It is ignored for hub names, which are stored as asked.
	Name string
	// Verify hashes blobs already in the store even when they are known to
	// be intact.
	Verify bool
}

// progressEvery spaces the byte-count reports of a download.
const progressEvery = 100 * time.Millisecond

// DefaultStallTimeout is how long a download may receive nothing before
// its connection is dropped and the download resumed on another.
const DefaultStallTimeout = time.Minute

// maxTries bounds the attempts to get one file over a connection that
// keeps failing; each attempt resumes where the last stopped.
const maxTries = 5

// spec is one file to fetch.
type spec struct {
	url      string
	digest   string // "sha256:HEX", or "" when the source does not say
	size     int64  // -1 when unknown
	filename string
}

// Pull fetches a model and stores it under the name asked for: ref is a hub
// name (hf.co/OWNER/REPO[:QUANT]), an alias (see Aliases), or an http(s)
// URL of a GGUF file. Blobs already in the store are not fetched again. A
// cancelled pull keeps what it fetched, and the next one resumes there.
func (s *Store) Pull(ctx context.Context, ref string, o PullOptions) (Name, error) {
	report := o.Progress
	if report == nil {
		report = func(Progress) {}
	}
	var (
		n      Name
		specs  []spec
		source string
		err    error
	)
	if IsURL(ref) {
		n, specs, err = s.urlSpecs(ref, o.Name)
		source = ref
		if err == nil {
			report(Progress{Status: "pulling manifest"})
		}
	} else {
		n, specs, source, err = s.hubSpecs(ctx, ref, report)
	}
	if err != nil {
		return Name{}, err
	}
	unlock, err := s.lockShared(ctx)
	if err != nil {
		return Name{}, err
	}
	defer unlock()
	m := &Manifest{Source: source, Created: time.Now().UTC()}
	for _, sp := range specs {
		digest, size, err := s.fetch(ctx, sp, report, o.Verify)
		if err != nil {
			return Name{}, fmt.Errorf("pulling %s: %s: %w", n, sp.filename, err)
		}
		m.Layers = append(m.Layers, Layer{MediaType: MediaTypeGGUF, Digest: digest, Size: size, Filename: sp.filename})
	}
	return s.nameModel(n, m, report)
}

// nameModel checks that m's blobs form one usable model and then writes
// m as n's manifest, reporting each step: a model is named only whole.
func (s *Store) nameModel(n Name, m *Manifest, report func(Progress)) (Name, error) {
	if err := s.checkModel(n, m); err != nil {
		return Name{}, err
	}
	report(Progress{Status: "writing manifest"})
	if err := s.writeManifest(n, m); err != nil {
		return Name{}, err
	}
	report(Progress{Status: "success"})
	return n, nil
}

// checkModel opens a model's blobs as one GGUF (the parts of a split one
// must fit together) before the model is named.
func (s *Store) checkModel(n Name, m *Manifest) error {
	var paths []string
	for _, l := range m.Layers {
		paths = append(paths, s.blobPath(l.Digest))
	}
	f, err := gguf.OpenSplit(paths)
	if err != nil {
		return fmt.Errorf("%s is not a usable GGUF model: %w", n, err)
	}
	return f.Close()
}

// hubSpecs resolves a hub name or an alias into the files to fetch.
func (s *Store) hubSpecs(ctx context.Context, ref string, report func(Progress)) (Name, []spec, string, error) {
	n, err := ParseName(ref)
	if err != nil {
		return Name{}, nil, "", err
	}
	target := n
	if a, ok := alias(n); ok {
		target = a
	}
	if !target.IsHub() {
		return Name{}, nil, "", fmt.Errorf("%s is neither a hub name (hf.co/OWNER/REPO[:QUANT]) nor a known alias (%s); local models come from `ainative import`", n, aliasList())
	}
	report(Progress{Status: "pulling manifest"})
	files, err := s.Hub.ListFiles(ctx, target.Repo(), "main")
	if err != nil {
		return Name{}, nil, "", err
	}
	var memory int64
	if target.Tag == DefaultTag {
		memory = s.memory(ctx)
	}
	c, err := chooseQuant(target.Repo(), target.Tag, candidates(files), memory)
	if err != nil {
		return Name{}, nil, "", err
	}
	var specs []spec
	for _, f := range c.Files {
		sp := spec{url: s.Hub.FileURL(target.Repo(), "main", f.Path), size: fileSize(f), filename: path.Base(f.Path)}
		if h := f.SHA256(); h != "" {
			sp.digest = "sha256:" + h
		} else {
			sp.size = -1 // a file outside LFS: its listed size is the git blob's
		}
		specs = append(specs, sp)
	}
	s.log().Debug("resolved a hub model", "name", n, "repo", target.Repo(), "quant", c.Quant, "files", len(specs), "bytes", c.Size)
	return n, specs, fmt.Sprintf("%s/%s@main:%s", HFHost, target.Repo(), c.Files[0].Path), nil
}

func aliasList() string {
	var names []string
	for a := range Aliases {
		names = append(names, a)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// memory is what a model may take on this machine: 80% of the memory
// available to this process, leaving room for the KV cache and the rest.
func (s *Store) memory(ctx context.Context) int64 {
	if s.Memory != nil {
		return s.Memory(ctx)
	}
	info, err := hw.Discover(ctx)
	if err != nil {
		return 0
	}
	return info.EffectiveMemory() / 5 * 4
}

var unsafeNameChars = regexp.MustCompile(`[^a-z0-9._-]+`)

// urlSpecs makes the files to fetch for a GGUF's URL: the file, or every
// part when it names the first part of a split GGUF.
func (s *Store) urlSpecs(ref, name string) (Name, []spec, error) {
	u, err := url.Parse(ref)
	if err != nil || u.Host == "" {
		return Name{}, nil, fmt.Errorf("%q is not a valid URL", ref)
	}
	file := path.Base(u.Path)
	if !strings.HasSuffix(strings.ToLower(file), ".gguf") {
		return Name{}, nil, fmt.Errorf("%s does not name a .gguf file", ref)
	}
	if name == "" {
		stem := strings.TrimSuffix(strings.ToLower(file), ".gguf")
		if base, _, _, ok := SplitPart(stem + ".gguf"); ok {
			stem = base
		}
		name = strings.Trim(unsafeNameChars.ReplaceAllString(stem, "-"), "-._")
	}
	n, err := ParseName(name)
	if err != nil {
		return Name{}, nil, fmt.Errorf("naming the model of %s: %w (choose one with --name)", ref, err)
	}
	base, i, parts, ok := SplitPart(file)
	if !ok {
		return n, []spec{{url: ref, size: -1, filename: file}}, nil
	}
	if i != 1 {
		return Name{}, nil, fmt.Errorf("%s is part %d of a split GGUF: pull part 1, which brings all %d", ref, i, parts)
	}
	var specs []spec
	dir := strings.TrimSuffix(u.Path, file)
	for k := 1; k <= parts; k++ {
		pu := *u
		pu.Path = dir + fmt.Sprintf("%s-%05d-of-%05d.gguf", base, k, parts)
		pu.RawPath = ""
		specs = append(specs, spec{url: pu.String(), size: -1, filename: path.Base(pu.Path)})
	}
	return n, specs, nil
}

// downloadKey names a download's lock and partial file under tmp: by
// the blob's digest when the hub gave one, else by a hash of the URL.
func downloadKey(sp spec) string {
	if sp.digest != "" {
		return strings.Replace(sp.digest, ":", "-", 1)
	}
	sum := sha256.Sum256([]byte(sp.url))
	return "url-" + hex.EncodeToString(sum[:16])
}

// fetch brings one file into the store and returns its digest and size.
func (s *Store) fetch(ctx context.Context, sp spec, report func(Progress), verify bool) (string, int64, error) {
	if sp.digest != "" {
		if err := s.checkBlob(ctx, sp.digest, sp.size, verify); err == nil {
			report(Progress{Status: "pulling " + shortDigest(sp.digest), Digest: sp.digest, Total: sp.size, Completed: sp.size})
			return sp.digest, sp.size, nil
		} else if ctx.Err() != nil {
			return "", 0, ctx.Err()
		}
	}
	tmp := filepath.Join(s.dir, "tmp", downloadKey(sp))
	unlock, err := flock(ctx, tmp+".lock", lockExclusive, func() {
		report(Progress{Status: "waiting for another pull of " + sp.filename, Digest: sp.digest})
	})
	if err != nil {
		return "", 0, err
	}
	defer unlock()
	if sp.digest != "" && s.checkBlob(ctx, sp.digest, sp.size, false) == nil {
		// Fetched by the pull we waited for.
		report(Progress{Status: "pulling " + shortDigest(sp.digest), Digest: sp.digest, Total: sp.size, Completed: sp.size})
		return sp.digest, sp.size, nil
	}
	partial := tmp + ".partial"
	f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	dl := &download{s: s, sp: sp, f: f, h: sha256.New(), report: report}
	if err := dl.resume(ctx); err != nil {
		return "", 0, err
	}
	for fresh := dl.off == 0; ; fresh = true {
		if err := dl.run(ctx); err != nil {
			return "", 0, err
		}
		if dl.existing != "" {
			os.Remove(partial)
			return dl.existing, dl.total, nil
		}
		report(Progress{Status: "verifying sha256 digest", Digest: sp.digest})
		got := "sha256:" + hex.EncodeToString(dl.h.Sum(nil))
		want := sp.digest
		if want == "" && isHex64(dl.etag) {
			want = "sha256:" + dl.etag
		}
		if want == "" || got == want {
			if err := f.Sync(); err != nil {
				return "", 0, err
			}
			if err := f.Close(); err != nil {
				return "", 0, err
			}
			if err := s.commitBlob(partial, got); err != nil {
				return "", 0, err
			}
			return got, dl.off, nil
		}
		// The bytes are wrong: drop them. A resumed file may have been
		// damaged before this run, so it gets one fresh try.
		if err := dl.restart(); err != nil {
			return "", 0, err
		}
		if fresh {
			os.Remove(partial)
			return "", 0, fmt.Errorf("%w: %s hashes to %s, want %s", ErrDigestMismatch, sp.url, got, want)
		}
		s.log().Warn("a resumed download did not verify; downloading it again", "url", sp.url)
	}
}

// download is one file being written to its partial file in tmp/.
type download struct {
	s     *Store
	sp    spec
	f     *os.File
	h     hash.Hash
	off   int64 // bytes in the partial file, all hashed into h
	total int64 // the file's size, -1 until known
	etag  string
	// existing is the digest of a blob already stored that the server
	// says the file is; nothing is downloaded then.
	existing string
	report   func(Progress)
	last     time.Time
}

// resume picks up what an earlier pull left in the partial file.
func (d *download) resume(ctx context.Context) error {
	d.total = d.sp.size
	fi, err := d.f.Stat()
	if err != nil {
		return err
	}
	if d.total >= 0 && fi.Size() > d.total {
		return d.restart()
	}
	if _, err := io.Copy(d.h, ctxReader{ctx, io.NewSectionReader(d.f, 0, fi.Size())}); err != nil {
		return err
	}
	d.off = fi.Size()
	if d.off > 0 {
		d.s.log().Debug("resuming a download", "url", d.sp.url, "from", d.off)
	}
	return nil
}

func (d *download) restart() error {
	d.off = 0
	d.h.Reset()
	return d.f.Truncate(0)
}

// run fetches the rest of the file, resuming after failed connections.
func (d *download) run(ctx context.Context) error {
	status := "pulling " + shortDigest(d.sp.digest)
	if d.sp.digest == "" {
		status = "pulling " + d.sp.filename
	}
	for tries := 1; ; tries++ {
		if d.existing != "" {
			d.report(Progress{Status: status, Total: d.total, Completed: d.total})
			return nil
		}
		if d.total >= 0 && d.off == d.total {
			d.report(Progress{Status: status, Digest: d.sp.digest, Total: d.total, Completed: d.off})
			return nil
		}
		err := d.once(ctx, status)
		if err == nil {
			continue
		}
		var herr *hub.Error
		if ctx.Err() != nil || errors.As(err, &herr) || errors.Is(err, errTooLong) || tries == maxTries {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		d.s.log().Warn("download interrupted; resuming", "url", d.sp.url, "at", d.off, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(tries) * time.Second):
		}
	}
}

var errTooLong = errors.New("the server sent more bytes than the file has")

// once makes one request, from the current offset.
func (d *download) once(ctx context.Context, status string) error {
	// A connection that goes quiet is dropped after StallTimeout and the
	// download resumed on a new one, rather than waiting forever.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stall := d.s.StallTimeout
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	watchdog := time.AfterFunc(stall, cancel)
	defer watchdog.Stop()
	resp, err := d.s.Hub.Get(rctx, d.sp.url, d.off)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.Offset == 0 && d.off > 0 {
		// The server ignored the range: start again.
		if err := d.restart(); err != nil {
			return err
		}
	}
	if resp.LinkedETag != "" {
		d.etag = resp.LinkedETag
	}
	if d.sp.digest == "" && isHex64(d.etag) && resp.Size >= 0 {
		// A URL on the hub names its sha256 before the body: a file
		// already stored is not downloaded again.
		if digest := "sha256:" + d.etag; d.s.checkBlob(ctx, digest, resp.Size, false) == nil {
			d.existing, d.total = digest, resp.Size
			return nil
		}
	}
	if resp.Size >= 0 {
		if d.total >= 0 && resp.Size != d.total {
			return &hub.Error{URL: d.sp.url, Status: 200, Msg: fmt.Sprintf("the server sends %d bytes, the listing says %d", resp.Size, d.total)}
		}
		d.total = resp.Size
	}
	if _, err := d.f.Seek(d.off, io.SeekStart); err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		watchdog.Reset(stall)
		if n > 0 {
			if d.total >= 0 && d.off+int64(n) > d.total {
				return fmt.Errorf("%s: %w", d.sp.url, errTooLong)
			}
			if _, err := d.f.Write(buf[:n]); err != nil {
				return err
			}
			d.h.Write(buf[:n])
			d.off += int64(n)
			if now := time.Now(); now.Sub(d.last) >= progressEvery {
				d.last = now
				d.report(Progress{Status: status, Digest: d.sp.digest, Total: d.total, Completed: d.off})
			}
		}
		if rerr == io.EOF {
			if d.total < 0 {
				d.total = d.off // the server gave no length: the end of the body is the end
			}
			if d.off < d.total {
				return fmt.Errorf("%s: the connection closed at byte %d of %d", d.sp.url, d.off, d.total)
			}
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

func shortDigest(d string) string {
	h, _ := strings.CutPrefix(d, "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

func isHex64(s string) bool { _, err := digestHex("sha256:" + s); return err == nil }
