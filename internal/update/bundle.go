// Package update installs a new system into the inactive root slot of an
// ainative disk and switches the next boot to it, with automatic
// rollback.
//
// # Layout
//
// A disk image (image.WriteDisk) has four GPT partitions: the EFI system
// partition, two root slots ainative-root-a and ainative-root-b, and the
// data partition. Each slot is a FAT32 file system (so that any UEFI
// firmware reads it) holding one complete system: vmlinuz (the kernel,
// started through its EFI stub), initrd and manifest.json (SlotManifest:
// version, build time, kernel command line, size and SHA-256 of each
// file). The ESP keeps a copy of the first system and the
// removable-media boot program that starts it, for a machine whose
// firmware has no boot entry yet (see below).
//
// # Selection: UEFI boot variables, tried once
//
// Each slot has a boot entry, Boot0A0A for A and Boot0B0B for B: an
// EFI_LOAD_OPTION naming the slot partition by its GPT GUID and \vmlinuz,
// with the command line (initrd=\initrd ... ainative.slot=a) as its
// data. BootOrder starts with the committed slot. An update sets BootNext
// to the new slot: the firmware deletes BootNext before it starts the
// entry, so the new slot is tried exactly once. If it reaches a healthy
// state (PID 1 up and its services started) before a deadline, PID 1
// commits it by putting it first in BootOrder; if it panics, or PID 1
// reboots at the deadline, the next boot follows BootOrder back to the
// old slot. No UEFI shell or boot loader takes part: only what the UEFI
// spec asks of every boot manager (BootNext, BootOrder, short-form HD()
// device paths). It is tested under OVMF, not yet on other firmware.
// The first boot of a fresh disk (NVRAM without our entries) goes
// through the ESP's \EFI\BOOT\BOOTX64.EFI or BOOTAA64.EFI
// (efiboot.ChainLoader); PID 1 then writes the entries itself.
//
// # Bundles
//
// An update bundle (WriteBundle) is a tar archive: manifest.json first,
// then manifest.sig (optional: the Ed25519 signature of manifest.json's
// bytes), then each file the manifest lists, in its order. Install reads
// the whole bundle once to verify it (sizes, SHA-256, the signature when
// a public key is configured) before it writes anything, and checks the
// hashes again while writing: a truncated or tampered bundle is refused
// before the next boot is switched. (The archive's trailer after the
// last file holds nothing that is hashed, and is not required.) Tar ends
// with zero blocks, so a bundle can be read from a block device padded
// with more (a disk attached to a VM).
//
// # Power loss
//
// Install first deletes BootNext, then writes the inactive slot and
// fsyncs it, then rewrites that slot's boot entry, and sets BootNext
// last (one variable write, atomic in the firmware). Until that last
// write the firmware boots the committed slot, which is never written
// while it is committed or running, so a power cut at any point leaves
// the old system bootable.
package update

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// Names in a bundle.
const (
	ManifestFile  = "manifest.json"
	SignatureFile = "manifest.sig"
)

// Limits that keep a hostile bundle from taking unbounded memory or room.
const (
	maxManifest = 64 << 10
	maxFiles    = 8
	// MaxSystemSize bounds the files of one system: they must fit a
	// slot (1 GiB) with room for the FAT.
	MaxSystemSize = 1<<30 - 64<<20
)

// FormatVersion is the manifest format this package writes and reads.
const FormatVersion = 1

// SlotManifest describes one system: the bundle's manifest.json, also
// stored in the slot it is installed to.
type SlotManifest struct {
	Format  int       `json:"format"`
	Version string    `json:"version"`
	Built   time.Time `json:"built"`
	Arch    string    `json:"arch"`
	// Cmdline is the kernel command line, without initrd= and the slot
	// parameter, which the boot entry adds.
	Cmdline []string `json:"cmdline"`
	Files   []File   `json:"files"`
}

// File is one file of a system.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// The files every system has: the boot entry starts Kernel with
// initrd=\Initrd.
const (
	Kernel = "vmlinuz"
	Initrd = "initrd"
)

var fileName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)

// Validate checks a manifest read from a bundle or a slot.
func (m *SlotManifest) Validate() error {
	if m.Format != FormatVersion {
		return fmt.Errorf("manifest format %d: this ainative reads format %d", m.Format, FormatVersion)
	}
	if m.Version == "" || len(m.Version) > 64 {
		return errors.New("manifest: version missing or longer than 64 bytes")
	}
	if m.Arch != "amd64" && m.Arch != "arm64" {
		return fmt.Errorf("manifest: architecture %q; slots boot amd64 and arm64 systems", m.Arch)
	}
	if len(m.Files) == 0 || len(m.Files) > maxFiles {
		return fmt.Errorf("manifest: %d files, want 1 to %d", len(m.Files), maxFiles)
	}
	seen := map[string]bool{}
	var total int64
	for _, f := range m.Files {
		if !fileName.MatchString(f.Name) || f.Name == ManifestFile || f.Name == SignatureFile {
			return fmt.Errorf("manifest: file name %q not allowed", f.Name)
		}
		if seen[f.Name] {
			return fmt.Errorf("manifest: file %s listed twice", f.Name)
		}
		seen[f.Name] = true
		if f.Size < 0 || f.Size > MaxSystemSize {
			return fmt.Errorf("manifest: file %s has size %d", f.Name, f.Size)
		}
		total += f.Size
		if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("manifest: file %s: sha256 %q is not 64 hex digits", f.Name, f.SHA256)
		}
	}
	if total > MaxSystemSize {
		return fmt.Errorf("manifest: files of %d MiB do not fit a slot (%d MiB)", total>>20, MaxSystemSize>>20)
	}
	if !seen[Kernel] || !seen[Initrd] {
		return fmt.Errorf("manifest: a system needs the files %s and %s", Kernel, Initrd)
	}
	for _, a := range m.Cmdline {
		if a == "" || len(a) > 1024 || bytes.ContainsAny([]byte(a), " \t\r\n\x00") {
			return fmt.Errorf("manifest: kernel parameter %q is empty, too long or has spaces", a)
		}
	}
	return nil
}

// ParseManifest decodes and validates a manifest.
func ParseManifest(b []byte) (*SlotManifest, error) {
	if len(b) > maxManifest {
		return nil, fmt.Errorf("manifest of %d bytes is larger than %d", len(b), maxManifest)
	}
	var m SlotManifest
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if d.More() {
		return nil, errors.New("manifest: data after the JSON object")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// NewManifest describes the files (name to path on this machine) as a
// system for arch with the kernel command line cmdline. The version is
// the given one or, if empty, the first 12 hex digits of a hash of the
// files' hashes.
func NewManifest(version, arch string, cmdline []string, files map[string]string, order []string) (*SlotManifest, error) {
	m := &SlotManifest{Format: FormatVersion, Version: version, Built: time.Now().UTC().Truncate(time.Second), Arch: arch, Cmdline: cmdline}
	all := sha256.New()
	for _, name := range order {
		f, err := os.Open(files[name])
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", files[name], err)
		}
		sum := hex.EncodeToString(h.Sum(nil))
		m.Files = append(m.Files, File{Name: name, Size: n, SHA256: sum})
		all.Write([]byte(sum))
	}
	if m.Version == "" {
		m.Version = hex.EncodeToString(all.Sum(nil))[:12]
	}
	return m, m.Validate()
}

// WriteBundle writes a bundle of the system m, whose files are at
// paths[name], signed with key when key is not nil.
func WriteBundle(w io.Writer, m *SlotManifest, paths map[string]string, key ed25519.PrivateKey) error {
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	put := func(name string, size int64, r io.Reader) error {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: m.Built, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		n, err := io.Copy(tw, r)
		if err == nil && n != size {
			err = fmt.Errorf("%s changed while it was bundled", name)
		}
		return err
	}
	if err := put(ManifestFile, int64(len(mb)), bytes.NewReader(mb)); err != nil {
		return err
	}
	if key != nil {
		sig := ed25519.Sign(key, mb)
		if err := put(SignatureFile, int64(len(sig)), bytes.NewReader(sig)); err != nil {
			return err
		}
	}
	for _, f := range m.Files {
		in, err := os.Open(paths[f.Name])
		if err != nil {
			return err
		}
		err = put(f.Name, f.Size, in)
		in.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

// ErrUnsigned is returned for an unsigned bundle when a key is configured.
var ErrUnsigned = errors.New("the bundle is not signed, and a public key is configured: refusing it")

// bundleReader walks a bundle, checking each part against the manifest.
type bundleReader struct {
	tr       *tar.Reader
	manifest *SlotManifest
	raw      []byte // manifest.json as read, which the signature covers
	signed   bool
	next     int // index of the next file in manifest.Files
	pending  *tar.Header
}

// openBundle reads the manifest (and signature) at the start of a
// bundle and checks the signature against pub (nil: not checked, but an
// invalid signature is still no signature).
func openBundle(r io.Reader, pub ed25519.PublicKey) (*bundleReader, error) {
	br := &bundleReader{tr: tar.NewReader(r)}
	hdr, err := br.tr.Next()
	if err != nil {
		return nil, fmt.Errorf("not an update bundle: %w", tarErr(err))
	}
	if hdr.Name != ManifestFile || hdr.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("not an update bundle: its first entry is %q, not %s", hdr.Name, ManifestFile)
	}
	if hdr.Size > maxManifest {
		return nil, fmt.Errorf("bundle manifest of %d bytes is larger than %d", hdr.Size, maxManifest)
	}
	if br.raw, err = io.ReadAll(br.tr); err != nil {
		return nil, fmt.Errorf("bundle manifest: %w", tarErr(err))
	}
	if br.manifest, err = ParseManifest(br.raw); err != nil {
		return nil, err
	}
	hdr, err = br.tr.Next()
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", tarErr(err))
	}
	if hdr.Name == SignatureFile {
		if hdr.Size != ed25519.SignatureSize {
			return nil, fmt.Errorf("bundle signature of %d bytes, want %d", hdr.Size, ed25519.SignatureSize)
		}
		sig, err := io.ReadAll(br.tr)
		if err != nil {
			return nil, fmt.Errorf("bundle signature: %w", tarErr(err))
		}
		if pub != nil && !ed25519.Verify(pub, br.raw, sig) {
			return nil, errors.New("the bundle's signature does not match the configured public key: refusing it")
		}
		br.signed = pub != nil
		if hdr, err = br.tr.Next(); err != nil {
			return nil, fmt.Errorf("bundle: %w", tarErr(err))
		}
	}
	if pub != nil && !br.signed {
		return nil, ErrUnsigned
	}
	br.pending = hdr
	return br, nil
}

// nextFile returns the next file of the manifest and a reader of its
// contents; io.EOF after the last one, once the archive's end is checked.
func (br *bundleReader) nextFile() (File, io.Reader, error) {
	if br.next == len(br.manifest.Files) {
		if _, err := br.tr.Next(); err != io.EOF {
			if err == nil {
				return File{}, nil, errors.New("bundle: entries after the files its manifest lists")
			}
			return File{}, nil, fmt.Errorf("bundle: %w", tarErr(err))
		}
		return File{}, nil, io.EOF
	}
	hdr := br.pending
	br.pending = nil
	if hdr == nil {
		var err error
		if hdr, err = br.tr.Next(); err != nil {
			return File{}, nil, fmt.Errorf("bundle ends before %s: %w", br.manifest.Files[br.next].Name, tarErr(err))
		}
	}
	f := br.manifest.Files[br.next]
	br.next++
	if hdr.Name != f.Name || hdr.Typeflag != tar.TypeReg || hdr.Size != f.Size {
		return File{}, nil, fmt.Errorf("bundle entry %q (%d bytes) where the manifest has %s (%d bytes)", hdr.Name, hdr.Size, f.Name, f.Size)
	}
	return f, br.tr, nil
}

// tarErr names a truncated archive as such.
func tarErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
		return errors.New("the bundle is truncated")
	}
	return err
}

// checkedCopy copies f's contents from r to w (nil: discarded), and
// fails unless they have f's size and SHA-256.
func checkedCopy(w io.Writer, r io.Reader, f File, progress func(int64)) error {
	h := sha256.New()
	dst := io.Writer(h)
	if w != nil {
		dst = io.MultiWriter(w, h)
	}
	n, err := io.Copy(dst, &countingReader{r: io.LimitReader(r, f.Size+1), progress: progress})
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name, tarErr(err))
	}
	if n != f.Size {
		return fmt.Errorf("%s: %d bytes, the manifest says %d: the bundle is truncated or altered", f.Name, n, f.Size)
	}
	if got := sumHex(h); got != f.SHA256 {
		return fmt.Errorf("%s: SHA-256 %s, the manifest says %s: the bundle is damaged or tampered with", f.Name, got, f.SHA256)
	}
	return nil
}

func sumHex(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

type countingReader struct {
	r        io.Reader
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 && c.progress != nil {
		c.progress(int64(n))
	}
	return n, err
}

// Verify reads a whole bundle and checks it: the manifest, the
// signature against pub (required when pub is not nil), and each file's
// size and SHA-256. It returns the manifest and whether it was signed.
func Verify(r io.Reader, pub ed25519.PublicKey, progress func(int64)) (*SlotManifest, error) {
	br, err := openBundle(r, pub)
	if err != nil {
		return nil, err
	}
	for {
		f, fr, err := br.nextFile()
		if err == io.EOF {
			return br.manifest, nil
		}
		if err != nil {
			return nil, err
		}
		if err := checkedCopy(nil, fr, f, progress); err != nil {
			return nil, err
		}
	}
}

// Key files: a PEM "PUBLIC KEY" (PKIX) holding an Ed25519 key. PID 1's
// machine looks for it in these places, first found wins.
var PublicKeyPaths = []string{"/etc/ainative/update.pub", "/var/lib/ainative/update.pub"}

// LoadPublicKey returns the first configured public key, or nil if none
// is configured. A key file that exists but is not an Ed25519 key is an
// error: a broken key must not silently turn checking off.
func LoadPublicKey(paths []string) (ed25519.PublicKey, string, error) {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, p, err
		}
		k, err := ParsePublicKey(b)
		if err != nil {
			return nil, p, fmt.Errorf("%s: %w", p, err)
		}
		return k, p, nil
	}
	return nil, "", nil
}

// ParsePublicKey reads a PEM PKIX Ed25519 public key (openssl pkey -pubout).
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM PUBLIC KEY")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T key, want Ed25519", k)
	}
	return ek, nil
}

// LoadPrivateKey reads a PEM PKCS#8 Ed25519 private key (openssl
// genpkey -algorithm ed25519).
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PEM PRIVATE KEY", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T key, want Ed25519", path, k)
	}
	return ek, nil
}

// BundleFiles returns the files of a system image directory for
// NewManifest and WriteBundle.
func BundleFiles(kernel, initrd string) (map[string]string, []string) {
	return map[string]string{Kernel: filepath.Clean(kernel), Initrd: filepath.Clean(initrd)}, []string{Kernel, Initrd}
}
