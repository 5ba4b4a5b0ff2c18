package image

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/squashfs"
)

// ModelsDiskName is the file name of the models disk in an image
// directory.
const ModelsDiskName = "models.squashfs"

// writeModelsDisk writes models that are too large for the initramfs
// into a SquashFS image, attached to the VM as a second (read-only) virtio
// disk. PID 1 mounts it and links each model into /models, so the models
// are paged in from the disk on demand instead of filling RAM. Data blocks
// are stored uncompressed: GGUF weights barely compress, and memory-mapped
// reads then cost no decompression. The kernels have SquashFS (the
// default one built in; a distribution kernel loads the squashfs module).
func writeModelsDisk(path string, models []string, name func(string) string) (err error) {
	// A temporary name of its own: two builds of one image directory
	// (two `vm` runs sharing the cache) must not write into one file.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	defer f.Close()
	// The file grows as Finalize writes.
	fs, err := squashfs.Create(file.New(f, false), 0, 0, 0)
	if err != nil {
		return err
	}
	defer os.RemoveAll(fs.Workspace())
	for _, m := range models {
		// Finalize reads the files from its workspace directory: a hard
		// link avoids copying gigabytes when both are on one file system.
		dst := filepath.Join(fs.Workspace(), name(m))
		if err := os.Link(m, dst); err != nil {
			if err := copyFile(dst, m); err != nil {
				return fmt.Errorf("models disk: %w", err)
			}
		}
	}
	err = fs.Finalize(squashfs.FinalizeOptions{
		NoCompressData: true, NoCompressFragments: true, NoFragments: true,
	})
	if err != nil {
		return fmt.Errorf("models disk: %w", err)
	}
	// A block device ends at a sector: pad to 4 KiB as mksquashfs does,
	// or the kernel cannot read the last partial sector.
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := f.Truncate((fi.Size() + 4095) &^ 4095); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
