package update

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"golang.org/x/sys/unix"

	"github.com/raym33/ainative/internal/efiboot"
)

// Slot partition names and boot entry numbers.
const (
	SlotALabel = "ainative-root-a"
	SlotBLabel = "ainative-root-b"
	// SlotParam is the kernel parameter that tells the booted system
	// which slot it came from (a or b).
	SlotParam = "ainative.slot"
	// HealthDeadlineParam sets how long a slot on trial has to become
	// healthy before PID 1 reboots into the committed one.
	HealthDeadlineParam = "ainative.health_deadline"
	// DefaultHealthDeadline is the deadline without the parameter.
	DefaultHealthDeadline = 60 * time.Second
)

// BootEntry is the Boot#### number of slot name (a or b).
func BootEntry(name string) uint16 {
	if name == "b" {
		return 0x0B0B
	}
	return 0x0A0A
}

// Label is the GPT partition name of slot name.
func Label(name string) string {
	if name == "b" {
		return SlotBLabel
	}
	return SlotALabel
}

// Other is the other slot.
func Other(name string) string {
	if name == "a" {
		return "b"
	}
	return "a"
}

// System is the machine's slots and boot variables; the zero paths mean
// the real ones (tests point them elsewhere).
type System struct {
	Vars     efiboot.Vars // Dir "" means efiboot.EfivarsDir
	SysBlock string       // "" means /sys/class/block
	DevDir   string       // "" means /dev
	Cmdline  string       // "" means /proc/cmdline's contents
	// LockPath is the file locked while the slots or boot variables
	// change, so that two updates (the CLI and the status server) or an
	// update and PID 1's commit never interleave; "" means
	// /run/ainative/update.lock.
	LockPath string
}

// lock takes the update lock, waiting for another holder to finish or
// ctx to end.
func (s *System) lock(ctx context.Context) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(s.LockPath), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.LockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("update lock: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if err != unix.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("update lock %s: %w", s.LockPath, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another update to finish: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *System) init() {
	if s.Vars.Dir == "" {
		s.Vars.Dir = efiboot.EfivarsDir
	}
	if s.SysBlock == "" {
		s.SysBlock = "/sys/class/block"
	}
	if s.DevDir == "" {
		s.DevDir = "/dev"
	}
	if s.Cmdline == "" {
		b, _ := os.ReadFile("/proc/cmdline")
		s.Cmdline = string(b)
	}
	if s.LockPath == "" {
		s.LockPath = "/run/ainative/update.lock"
	}
}

// param returns the value of kernel parameter key in the command line.
func (s *System) param(key string) string {
	for _, f := range strings.Fields(s.Cmdline) {
		if k, v, ok := strings.Cut(f, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// Current is the slot this system booted from, "" if none.
func (s *System) Current() string {
	s.init()
	if v := s.param(SlotParam); v == "a" || v == "b" {
		return v
	}
	return ""
}

// HealthDeadline is the deadline of a slot on trial.
func (s *System) HealthDeadline() time.Duration {
	s.init()
	if d, err := time.ParseDuration(s.param(HealthDeadlineParam)); err == nil && d > 0 {
		return d
	}
	return DefaultHealthDeadline
}

// Slot is one root slot of this machine's disk.
type Slot struct {
	Name      string            `json:"slot"`
	Device    string            `json:"device"`
	Partition efiboot.Partition `json:"-"`
	Manifest  *SlotManifest     `json:"manifest,omitempty"`
	Problem   string            `json:"problem,omitempty"` // why there is no system
	disk      string            // the whole disk's device
	sectors   int64             // logical sector size
}

// findSlot locates the partition of slot name through sysfs and the
// disk's GPT.
func (s *System) findSlot(name string) (*Slot, error) {
	s.init()
	label := Label(name)
	entries, _ := os.ReadDir(s.SysBlock)
	for _, e := range entries {
		dir := filepath.Join(s.SysBlock, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "uevent"))
		if err != nil || !slices.Contains(strings.Fields(string(b)), "PARTNAME="+label) {
			continue
		}
		num, err1 := readInt(filepath.Join(dir, "partition"))
		start, err2 := readInt(filepath.Join(dir, "start"))
		size, err3 := readInt(filepath.Join(dir, "size"))
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("slot %s (%s): %w", name, e.Name(), err)
		}
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return nil, err
		}
		diskName := filepath.Base(filepath.Dir(real))
		lbs, err := readInt(filepath.Join(s.SysBlock, diskName, "queue", "logical_block_size"))
		if err != nil || lbs < 512 {
			lbs = 512
		}
		sl := &Slot{Name: name, Device: filepath.Join(s.DevDir, e.Name()), disk: filepath.Join(s.DevDir, diskName), sectors: lbs}
		// sysfs counts 512-byte sectors; the firmware, logical blocks.
		sl.Partition = efiboot.Partition{Number: uint32(num), StartLBA: uint64(start * 512 / lbs), SizeLBA: uint64(size * 512 / lbs)}
		if sl.Partition.UniqueGUID, err = partitionGUID(sl.disk, int(num)); err != nil {
			return nil, fmt.Errorf("slot %s: %w", name, err)
		}
		return sl, nil
	}
	return nil, fmt.Errorf("no partition named %s: this system was not booted from an ainative disk image", label)
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// partitionGUID reads partition n's unique GUID from the GPT of disk.
func partitionGUID(disk string, n int) (string, error) {
	d, err := diskfs.Open(disk, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		return "", fmt.Errorf("reading the partition table of %s: %w", disk, err)
	}
	defer d.Close()
	t, ok := d.Table.(*gpt.Table)
	if !ok {
		return "", fmt.Errorf("%s has no GPT", disk)
	}
	for _, p := range t.Partitions {
		if p.Index == n {
			return strings.ToLower(p.GUID), nil
		}
	}
	return "", fmt.Errorf("%s: no partition %d in its GPT", disk, n)
}

// readManifest fills in the slot's system, or why there is none.
func (sl *Slot) readManifest() {
	f, err := os.Open(sl.Device)
	if err != nil {
		sl.Problem = err.Error()
		return
	}
	defer f.Close()
	m, err := ReadSlot(file.New(f, true), 0, int64(sl.Partition.SizeLBA)*sl.sectors)
	if err != nil {
		sl.Problem = err.Error()
		return
	}
	sl.Manifest = m
}

// Status is what `ainative update --status` reports.
type Status struct {
	Current   string `json:"current"`        // slot booted now; "" if not a slot
	Committed string `json:"committed"`      // slot BootOrder starts with
	Next      string `json:"next,omitempty"` // slot BootNext tries once
	Trial     bool   `json:"trial"`          // the current slot is not committed yet
	Slots     []Slot `json:"slots"`
	Problem   string `json:"problem,omitempty"` // why the boot variables could not be read
}

// Status reads the slots and the boot variables.
func (s *System) Status() (*Status, error) {
	s.init()
	st := &Status{Current: s.Current()}
	for _, name := range []string{"a", "b"} {
		sl, err := s.findSlot(name)
		if err != nil {
			return nil, err
		}
		sl.readManifest()
		st.Slots = append(st.Slots, *sl)
	}
	var err error
	if st.Committed, err = s.Committed(); err != nil {
		st.Problem = err.Error()
	}
	if n, ok, err := s.Vars.Number("BootNext"); err == nil && ok {
		st.Next = slotOf(n)
	}
	st.Trial = st.Current != "" && st.Committed != "" && st.Current != st.Committed
	return st, nil
}

func slotOf(n uint16) string {
	switch n {
	case BootEntry("a"):
		return "a"
	case BootEntry("b"):
		return "b"
	}
	return ""
}

// Committed is the slot whose entry comes first in BootOrder, "" if
// none has an entry there.
func (s *System) Committed() (string, error) {
	s.init()
	order, err := s.Vars.BootOrder()
	if err != nil {
		return "", err
	}
	for _, n := range order {
		if name := slotOf(n); name != "" {
			return name, nil
		}
	}
	return "", nil
}

// entryFor is the boot entry that starts the system of slot sl.
func entryFor(sl *Slot, m *SlotManifest) efiboot.LoadOption {
	args := append([]string{`initrd=\` + Initrd}, m.Cmdline...)
	args = append(args, SlotParam+"="+sl.Name)
	return efiboot.KernelOption("ainative "+strings.ToUpper(sl.Name), sl.Partition, `\`+Kernel, args)
}

// writeEntry writes slot sl's boot entry unless it is already so.
func (s *System) writeEntry(sl *Slot, m *SlotManifest) error {
	b, err := entryFor(sl, m).MarshalBinary()
	if err != nil {
		return err
	}
	name := efiboot.BootName(BootEntry(sl.Name))
	if old, err := s.Vars.Get(name); err == nil && string(old) == string(b) {
		return nil
	}
	return s.Vars.Set(name, b)
}

// Commit makes the current slot the committed one: it writes the boot
// entries of the slots that hold a system (PID 1 does this on every
// healthy boot, so a machine first booted through startup.nsh or with
// fresh NVRAM gets them) and puts the current slot first in BootOrder,
// the other after it. It reports whether BootOrder changed.
func (s *System) Commit(ctx context.Context) (bool, error) {
	s.init()
	cur := s.Current()
	if cur == "" {
		return false, errors.New("not booted from a slot (no " + SlotParam + " parameter)")
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()
	var ours []uint16
	for _, name := range []string{cur, Other(cur)} {
		sl, err := s.findSlot(name)
		if err != nil {
			return false, err
		}
		sl.readManifest()
		if sl.Manifest == nil {
			if name == cur {
				return false, fmt.Errorf("slot %s, booted now, has no readable manifest: %s", cur, sl.Problem)
			}
			continue
		}
		if err := s.writeEntry(sl, sl.Manifest); err != nil {
			return false, err
		}
		ours = append(ours, BootEntry(name))
	}
	order, err := s.Vars.BootOrder()
	if err != nil {
		return false, err
	}
	want := slices.Clone(ours)
	for _, n := range order {
		if slotOf(n) == "" {
			want = append(want, n)
		}
	}
	if slices.Equal(order, want) {
		return false, nil
	}
	return true, s.Vars.Set("BootOrder", efiboot.EncodeUint16s(want...))
}

// Result is what Install did.
type Result struct {
	Slot     string        `json:"slot"`      // the slot written, tried at the next boot
	Device   string        `json:"device"`    // its partition
	Manifest *SlotManifest `json:"manifest"`  // the system installed
	Signed   bool          `json:"signed"`    // the signature was checked
	Previous string        `json:"committed"` // the slot booted if the new one fails
}

// Install verifies the bundle that open returns (it is opened twice:
// once to verify, once to write), writes it into the inactive slot and
// makes the next boot try it once. pub, when not nil, must have signed
// the bundle. progress receives, in each pass ("verifying", then
// "writing slot X"), the bytes of the files done and their total.
func (s *System) Install(ctx context.Context, open func() (io.ReadCloser, error), pub ed25519.PublicKey, progress func(phase string, done, total int64)) (*Result, error) {
	s.init()
	if s.Current() == "" {
		return nil, errors.New("this system was not booted from a slot of an ainative disk image (no " + SlotParam + " parameter): nothing to update")
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := s.Status()
	if err != nil {
		return nil, err
	}
	if st.Problem != "" {
		return nil, fmt.Errorf("reading the boot variables: %s", st.Problem)
	}
	if st.Trial {
		return nil, fmt.Errorf("slot %s, booted now, is on trial and not committed yet (slot %s is): wait until it is healthy", st.Current, st.Committed)
	}
	target := Other(st.Current)
	var total int64
	pass := func(phase string) func(int64) {
		var done int64
		return func(n int64) {
			done += n
			if progress != nil {
				progress(phase, done, total)
			}
		}
	}

	r, err := open()
	if err != nil {
		return nil, err
	}
	br, err := openBundle(&ctxReader{ctx, r}, pub)
	if err != nil {
		r.Close()
		return nil, err
	}
	if br.manifest.Arch != runtime.GOARCH {
		r.Close()
		return nil, fmt.Errorf("the bundle holds an %s system; this machine runs %s", br.manifest.Arch, runtime.GOARCH)
	}
	for _, f := range br.manifest.Files {
		total += f.Size
	}
	verifying := pass("verifying")
	for {
		f, fr, err := br.nextFile()
		if err == io.EOF {
			break
		}
		if err == nil {
			err = checkedCopy(nil, fr, f, verifying)
		}
		if err != nil {
			r.Close()
			return nil, err
		}
	}
	r.Close()

	// From here on the inactive slot is rewritten: first make sure no
	// pending BootNext points at it.
	if err := s.Vars.Delete("BootNext"); err != nil {
		return nil, err
	}
	sl, err := s.findSlot(target)
	if err != nil {
		return nil, err
	}
	dev, err := os.OpenFile(sl.Device, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("slot %s: %w", target, err)
	}
	defer dev.Close()
	if r, err = open(); err != nil {
		return nil, err
	}
	defer r.Close()
	size := int64(sl.Partition.SizeLBA) * sl.sectors
	m, err := WriteSlot(file.New(dev, false), 0, size, "AINATIVE-"+strings.ToUpper(target), &ctxReader{ctx, r}, pub, br.raw, pass("writing slot "+target))
	if err != nil {
		return nil, fmt.Errorf("writing slot %s: %w (the next boot still starts slot %s)", target, err, st.Current)
	}
	if err := dev.Sync(); err != nil {
		return nil, err
	}
	if err := s.writeEntry(sl, m); err != nil {
		return nil, err
	}
	if err := s.Vars.Set("BootNext", efiboot.EncodeUint16s(BootEntry(target))); err != nil {
		return nil, err
	}
	return &Result{Slot: target, Device: sl.Device, Manifest: m, Signed: br.signed, Previous: st.Current}, nil
}

// ctxReader stops a long read when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
