package update

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

// WriteSlot makes a FAT32 file system of size bytes at start in st and
// installs the system of the bundle read from r into it, checking every
// file's size and SHA-256 while it writes; the manifest is written last,
// so a slot whose write was cut short has none and is reported empty.
// want, if not nil, is the manifest a verifying pass saw: a bundle that
// changed in between is refused.
func WriteSlot(st backend.Storage, start, size int64, label string, r io.Reader, pub ed25519.PublicKey, want []byte, progress func(int64)) (*SlotManifest, error) {
	br, err := openBundle(r, pub)
	if err != nil {
		return nil, err
	}
	if want != nil && !bytes.Equal(br.raw, want) {
		return nil, errors.New("the bundle changed after it was verified")
	}
	fs, err := fat32.Create(st, size, start, 512, label, false)
	if err != nil {
		return nil, fmt.Errorf("making the slot's file system: %w", err)
	}
	for {
		f, fr, err := br.nextFile()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		out, err := fs.OpenFile("/"+f.Name, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return nil, fmt.Errorf("slot: %s: %w", f.Name, err)
		}
		err = checkedCopy(out, fr, f, progress)
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("slot: %s: %w", f.Name, cerr)
		}
		if err != nil {
			return nil, err
		}
	}
	out, err := fs.OpenFile("/"+ManifestFile, os.O_CREATE|os.O_RDWR)
	if err != nil {
		return nil, fmt.Errorf("slot: %s: %w", ManifestFile, err)
	}
	_, err = out.Write(br.raw)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("slot: %s: %w", ManifestFile, err)
	}
	if f, err := st.Sys(); err == nil {
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("slot: sync: %w", err)
		}
	}
	return br.manifest, nil
}

// ReadSlot returns the manifest of the system in the slot of size bytes
// at start in st; an error says why there is none (a blank slot, a write
// cut short).
func ReadSlot(st backend.Storage, start, size int64) (*SlotManifest, error) {
	fs, err := fat32.Read(st, size, start, 512)
	if err != nil {
		return nil, errors.New("no system (not a FAT32 file system)")
	}
	// The directory entry gives the size: go-diskfs can return bytes
	// past a file's end to a read that asks for more than is left.
	msize := int64(-1)
	entries, err := fs.ReadDir(".")
	if err != nil {
		return nil, fmt.Errorf("no system (its directory is unreadable: %v)", err)
	}
	for _, e := range entries {
		if e.Name() == ManifestFile {
			if info, err := e.Info(); err == nil {
				msize = info.Size()
			}
		}
	}
	if msize < 0 {
		return nil, errors.New("no system (no manifest: empty, or its write did not finish)")
	}
	if msize > maxManifest {
		return nil, fmt.Errorf("its manifest of %d bytes is larger than %d", msize, maxManifest)
	}
	f, err := fs.OpenFile("/"+ManifestFile, os.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("opening its manifest: %w", err)
	}
	defer f.Close()
	b := make([]byte, msize)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("reading its manifest: %w", err)
	}
	return ParseManifest(b)
}
