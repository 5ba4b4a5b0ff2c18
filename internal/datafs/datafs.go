// Package datafs makes and recognises ainative's data file system: the
// ext4 file system mounted at /var/lib/ainative that keeps the model
// store, the bus's database, policy and the users' homes across reboots.
//
// ext4 because every kernel ainative boots has it (the default gokrazy
// kernel builds it in) and because its journal keeps the file system
// consistent through a power cut. The file system is written from Go by
// github.com/diskfs/go-diskfs, so neither `image build`, `vm` nor PID 1
// needs mkfs; tests check the result with e2fsck and by mounting it in
// a VM.
package datafs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/ext4"
	"golang.org/x/sys/unix"
)

// Label is the volume label of a data file system made here.
const Label = "ainative-data"

// Size limits of a data file system. Below MinSize the journal and the
// metadata leave almost nothing for data; MaxSize is far above any disk
// in sight and keeps a typo (16T for 16G) from an absurd allocation.
const (
	MinSize     = 64 << 20
	MaxSize     = 64 << 40
	DefaultSize = 16 << 30
)

// inodeRatio is bytes per inode: the data disk holds a few large model
// files and many small ones, so one inode per 32 KiB is plenty and keeps
// the inode tables (written at format time) small.
const inodeRatio = 32 << 10

// Format writes an empty ext4 file system with a journal over the first
// size bytes of f, a regular file or a block device. Everything there is
// lost: callers check Probe first.
func Format(f *os.File, size int64) error {
	return FormatAt(f, 0, size)
}

// FormatAt is Format for a partition: the file system takes size bytes of
// f from offset start (a multiple of 4096).
func FormatAt(f *os.File, start, size int64) error {
	if err := checkSize(size); err != nil {
		return err
	}
	if start < 0 || start%4096 != 0 {
		return fmt.Errorf("data file system at offset %d: want a multiple of 4096", start)
	}
	size &^= 4095 // whole 4 KiB blocks
	_, err := ext4.Create(file.New(f, false), size, start, 512, &ext4.Params{
		VolumeName:      Label,
		SectorsPerBlock: 8, // 4 KiB blocks
		InodeCount:      inodeCount(size),
		// go-diskfs writes a resize inode that e2fsck rejects; the data
		// file system is never grown offline, so it needs none.
		Features: []ext4.FeatureOpt{ext4.WithFeatureReservedGDTBlocksForExpansion(false)},
	})
	if err != nil {
		return fmt.Errorf("formatting the data file system: %w", err)
	}
	return nil
}

func checkSize(size int64) error {
	if size < MinSize || size > MaxSize {
		return fmt.Errorf("data file system of %d bytes: want %d MiB to %d TiB", size, MinSize>>20, MaxSize>>40)
	}
	return nil
}

// Block and inode geometry of the file systems made here.
const (
	blockSize      = 4096
	blocksPerGroup = 8 * blockSize // one block of bitmap per group
	inodeSize      = 256
)

// inodeCount is the number of inodes for a file system of size bytes:
// one per inodeRatio bytes, with the same number in every block group,
// a multiple of the inodes in a block. go-diskfs rounds the inodes per
// group to a multiple of 8 only; the kernel wants whole inode-table
// blocks (16 inodes of 256 bytes), and otherwise fails its lazy inode
// table initialisation and turns the file system read-only.
func inodeCount(size int64) uint32 {
	blocks := size / blockSize
	groups := (blocks + blocksPerGroup - 1) / blocksPerGroup
	perBlock := int64(blockSize / inodeSize)
	perGroup := (size/inodeRatio + groups - 1) / groups
	perGroup = (perGroup + perBlock - 1) / perBlock * perBlock
	return uint32(min(perGroup, blocksPerGroup) * groups)
}

// CreateImage writes a data disk image of size bytes at path: a sparse
// file holding a fresh file system. It is written under a temporary name
// and renamed, so an interrupted run leaves no half-formatted disk; an
// existing file at path is an error, never overwritten.
func CreateImage(path string, size int64) (err error) {
	if err := checkSize(size); err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("data disk %s exists already", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		f.Close()
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := f.Truncate(size &^ 4095); err != nil {
		return err
	}
	if err := Format(f, size); err != nil {
		return err
	}
	if err := sparsify(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// Link, unlike rename, fails when path appeared meanwhile (another
	// `vm` making the same disk): never replace a disk holding state.
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("data disk: %w", err)
	}
	return os.Remove(tmp)
}

// sparsify deallocates the runs of zeros the formatter wrote (the inode
// tables and the journal), so that a new disk takes a few MiB on the
// host instead of hundreds. A file system that cannot punch holes keeps
// them allocated; the disk is the same either way.
func sparsify(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	const chunk = 1 << 20
	buf := make([]byte, chunk)
	zero := make([]byte, chunk)
	fd := int(f.Fd())
	for off := int64(0); off < fi.Size(); off += chunk {
		// Skip the holes Truncate left: only written extents can hold zeros.
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // no data after off
		}
		if err == nil && data >= off+chunk {
			off = data&^(chunk-1) - chunk
			continue
		}
		n, err := f.ReadAt(buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if n == 0 {
			break
		}
		if !bytes.Equal(buf[:n], zero[:n]) {
			continue
		}
		err = unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, int64(n))
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("data disk: punching holes: %w", err)
		}
	}
	return nil
}

// Kind is what Probe finds on a disk.
type Kind int

// The kinds of disk Probe tells apart.
const (
	Blank Kind = iota // all zeros where any file system or partition table starts
	Ext4              // an ext2/3/4 superblock
	Other             // something else: never formatted over
)

// Content says what is on a disk.
type Content struct {
	Kind Kind
	// Label is the ext4 volume label.
	Label string
	// What names the content for messages ("ext4", "a GPT partition
	// table", "unknown data").
	What string
}

// probeSize is how much of a disk Probe reads: partition tables,
// superblocks and boot sectors all start within it.
const probeSize = 1 << 20

// superblock offsets (ext4 disk layout).
const (
	sbOffset      = 1024
	sbMagicOffset = sbOffset + 0x38
	sbLabelOffset = sbOffset + 0x78
	ext4Magic     = 0xEF53
)

// Probe reads the start of a disk and says whether it is blank, holds an
// ext4 file system, or holds something else. Only a blank disk may be
// formatted without asking: a disk with anything else on it may be a
// user's data.
func Probe(r io.ReaderAt) (Content, error) {
	buf := make([]byte, probeSize)
	n, err := r.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return Content{}, fmt.Errorf("reading the disk: %w", err)
	}
	buf = buf[:n]
	if n < 4096 {
		return Content{}, fmt.Errorf("disk of %d bytes is too small for a file system", n)
	}
	if binary.LittleEndian.Uint16(buf[sbMagicOffset:]) == ext4Magic {
		label := buf[sbLabelOffset : sbLabelOffset+16]
		if i := bytes.IndexByte(label, 0); i >= 0 {
			label = label[:i]
		}
		return Content{Kind: Ext4, Label: string(label), What: "ext4"}, nil
	}
	switch {
	case bytes.Equal(buf[512:520], []byte("EFI PART")):
		return Content{Kind: Other, What: "a GPT partition table"}, nil
	case bytes.Equal(buf[:4], []byte("hsqs")):
		return Content{Kind: Other, What: "a SquashFS file system"}, nil
	case buf[510] == 0x55 && buf[511] == 0xAA:
		return Content{Kind: Other, What: "an MBR partition table or boot sector"}, nil
	}
	for _, b := range buf {
		if b != 0 {
			return Content{Kind: Other, What: "unknown data"}, nil
		}
	}
	return Content{Kind: Blank, What: "nothing (blank)"}, nil
}
