package qemu

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/initsys"
)

func TestArgs(t *testing.T) {
	c := &Config{Kernel: "k", Initrd: "i", Accel: "tcg", MemoryMiB: 512, CPUs: 1,
		Forwards: []Forward{{Host: 18080, Guest: 8080}, {Host: 2222, Guest: 22}}, Append: "loglevel=4"}
	args, accel, err := c.Args()
	if err != nil || accel != "tcg" {
		t.Fatalf("accel %q, %v", accel, err)
	}
	line := strings.Join(args, " ")
	for _, want := range []string{
		"-no-reboot", "-accel tcg", "-cpu max", "-m 512", "-smp 1", "-kernel k", "-initrd i",
		"-device isa-debug-exit,iobase=0xf4,iosize=0x01",
		"-netdev user,id=net0,hostfwd=tcp:127.0.0.1:18080-:8080,hostfwd=tcp:127.0.0.1:2222-:22",
		"-serial stdio",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("args lack %q:\n%s", want, line)
		}
	}
	appendArg := args[slices.Index(args, "-append")+1]
	for _, want := range []string{"panic=-1", "console=ttyS0", "ainative.exitport=0xf4", "loglevel=4",
		// The status page's forward is admitted without a token.
		"ainative.status_allow=10.0.2.2"} {
		if !strings.Contains(appendArg, want) {
			t.Errorf("kernel command line %q lacks %q", appendArg, want)
		}
	}

	c.Forwards = c.Forwards[1:]
	args, _, _ = c.Args()
	if appendArg := args[slices.Index(args, "-append")+1]; strings.Contains(appendArg, "status_allow") {
		t.Errorf("no status forward, yet the kernel command line admits one: %q", appendArg)
	}

	c.Interactive = true
	c.ExtraSerial = nil
	args, _, _ = c.Args()
	if !strings.Contains(strings.Join(args, " "), "-serial mon:stdio") {
		t.Errorf("interactive console not muxed with the monitor: %v", args)
	}
	if _, _, err := (&Config{Accel: "warp"}).Args(); err == nil {
		t.Error("bad accel accepted")
	}
	if _, _, err := (&Config{Arch: "riscv64", Accel: "tcg"}).Args(); err == nil {
		t.Error("bad arch accepted")
	}
}

func TestDataDiskArgs(t *testing.T) {
	c := &Config{Kernel: "k", Initrd: "i", Accel: "tcg", Disks: []string{"models.squashfs"}, DataDisk: "data.img"}
	args, _, err := c.Args()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	for _, want := range []string{
		"file=models.squashfs,if=virtio,format=raw,readonly=on,index=0",
		"file=data.img,if=virtio,format=raw,cache=writeback,discard=unmap,index=1",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("args lack %q:\n%s", want, line)
		}
	}
	if appendArg := args[slices.Index(args, "-append")+1]; !strings.Contains(appendArg, "ainative.data=/dev/vdb") {
		t.Errorf("kernel command line %q does not name the data disk /dev/vdb", appendArg)
	}
	c.DataDiskReadOnly = true
	if args, _, _ = c.Args(); !strings.Contains(strings.Join(args, " "), "file=data.img,if=virtio,format=raw,readonly=on,index=1") {
		t.Errorf("read-only data disk: %s", strings.Join(args, " "))
	}
	c.DataDisk = "a,b.img"
	if _, _, err := c.Args(); err == nil || !strings.Contains(err.Error(), "comma") {
		t.Errorf("data disk with a comma: %v", err)
	}
	for i, want := range map[int]string{0: "/dev/vda", 1: "/dev/vdb", 25: "/dev/vdz", 26: "/dev/vdaa", 27: "/dev/vdab"} {
		if got := VirtioDisk(i); got != want {
			t.Errorf("VirtioDisk(%d) = %s, want %s", i, got, want)
		}
	}
}

func TestBootDiskArgs(t *testing.T) {
	c := &Config{BootDisk: "disk.img", Firmware: "OVMF.fd", Accel: "tcg"}
	args, _, err := c.Args()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	for _, want := range []string{"-bios OVMF.fd", "-machine q35", "file=disk.img,if=virtio,format=raw", "-serial stdio"} {
		if !strings.Contains(line, want) {
			t.Errorf("args lack %q:\n%s", want, line)
		}
	}
	for _, not := range []string{"-kernel", "-append", "-netdev"} {
		if strings.Contains(line, not) {
			t.Errorf("disk boot args have %s:\n%s", not, line)
		}
	}
	// arm64: the virt machine, AAVMF in two flash devices, a CPU whose
	// pointer authentication TCG emulates cheaply.
	if _, _, err := (&Config{BootDisk: "d.img", Firmware: "f", Arch: "arm64", Accel: "tcg"}).Args(); err == nil {
		t.Error("arm64 disk boot without a variable store accepted")
	}
	args, _, err = (&Config{BootDisk: "d.img", Firmware: "AAVMF_CODE.fd", FirmwareVars: "d.img.vars", Arch: "arm64", Accel: "tcg"}).Args()
	if err != nil {
		t.Fatal(err)
	}
	line = strings.Join(args, " ")
	for _, want := range []string{"-machine virt", "-cpu max,pauth-impdef=on", "unit=0,readonly=on,file=AAVMF_CODE.fd", "unit=1,file=d.img.vars", "file=d.img,if=virtio"} {
		if !strings.Contains(line, want) {
			t.Errorf("arm64 args lack %q:\n%s", want, line)
		}
	}
}

func TestBootDiskFlashVars(t *testing.T) {
	c := &Config{BootDisk: "disk.img", Firmware: "CODE.fd", FirmwareVars: "disk.img.vars", Disks: []string{"b.tar"}, Accel: "tcg"}
	args, _, err := c.Args()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	for _, want := range []string{"if=pflash,format=raw,unit=0,readonly=on,file=CODE.fd", "if=pflash,format=raw,unit=1,file=disk.img.vars", "file=b.tar,if=virtio,format=raw,readonly=on"} {
		if !strings.Contains(line, want) {
			t.Errorf("args lack %q:\n%s", want, line)
		}
	}
	if strings.Contains(line, "-bios") {
		t.Errorf("-bios with a split firmware:\n%s", line)
	}
	// The variable store is copied once, then kept.
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "VARS.fd")
	os.WriteFile(tmpl, []byte("template"), 0o644)
	disk := filepath.Join(dir, "d.img")
	v, err := DiskVars(disk, tmpl)
	if err != nil || v != disk+".vars" {
		t.Fatalf("DiskVars: %q %v", v, err)
	}
	os.WriteFile(v, []byte("written by the guest"), 0o644)
	if _, err := DiskVars(disk, tmpl); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(v); string(b) != "written by the guest" {
		t.Errorf("the disk's variables were replaced: %q", b)
	}
}

func TestParseForward(t *testing.T) {
	f, err := ParseForward("0:8080")
	if err != nil || f != (Forward{0, 8080}) {
		t.Errorf("%v %v", f, err)
	}
	for _, bad := range []string{"8080", "a:b", "1:0", "70000:1", "-1:5"} {
		if _, err := ParseForward(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestClassifyAndExitStatus(t *testing.T) {
	for _, tc := range []struct {
		status  int
		hasCmd  bool
		console string
		outcome Outcome
		code    int
		msg     string
	}{
		{initsys.QEMUExitClean, false, "", Clean, 0, ""},
		{initsys.QEMUExitClean, true, "x\n" + initsys.CommandStatusPrefix + "42\r\n", Clean, 42, ""},
		{initsys.QEMUExitClean, true, "no status line", Clean, ExitGuestFailure, "without reporting"},
		{initsys.QEMUExitFailure, false, "", Failure, ExitGuestFailure, "PID 1 reported a failure"},
		{0, false, "Kernel panic - not syncing", Reset, ExitPanic, "guest kernel panic"},
		{0, true, "", Reset, ExitPanic, "unexpected reset"},
		{1, false, "", QEMUError, ExitHost, "QEMU failed"},
		{-2, false, "", QEMUError, ExitHost, "QEMU failed"},
		{-1, false, "", Killed, ExitTimeout, "killed"},
	} {
		o := Classify("amd64", tc.status)
		code, msg := ExitStatus(o, tc.hasCmd, []byte(tc.console))
		if o != tc.outcome || code != tc.code || !strings.Contains(msg, tc.msg) || (tc.msg == "") != (msg == "") {
			t.Errorf("status %d: %v %d %q, want %v %d %q", tc.status, o, code, msg, tc.outcome, tc.code, tc.msg)
		}
	}
}

func TestCommandStatus(t *testing.T) {
	p := initsys.CommandStatusPrefix
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{p + "0\n", 0, true},
		{p + "1\n...\n" + p + "255\n", 255, true},
		{p + "256\n", 0, false},
		{p + "12", 0, false}, // cut off
		{p + "x\n", 0, false},
		{"", 0, false},
	} {
		got, ok := CommandStatus([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: %d %v", tc.in, got, ok)
		}
	}
}

func FuzzCommandStatus(f *testing.F) {
	f.Add([]byte(initsys.CommandStatusPrefix + "3\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if st, ok := CommandStatus(b); ok && (st < 0 || st > 255) {
			t.Fatalf("status %d out of range", st)
		}
	})
}

func TestTail(t *testing.T) {
	tail := &Tail{Max: 5}
	for i := range 10 {
		fmt.Fprint(tail, i)
		want := "0123456789"[max(0, i-4) : i+1]
		if got := string(tail.Bytes()); got != want {
			t.Errorf("after %d writes: tail = %q, want %q", i+1, got, want)
		}
	}
	fmt.Fprint(tail, "abcdefghijklmnop")
	if got := string(tail.Bytes()); got != "lmnop" {
		t.Errorf("after a write longer than Max: %q", got)
	}
}

// BenchmarkTail writes a console's worth of small chunks into a full
// 1 MiB Tail; the baseline is appending them to a bytes.Buffer, which
// keeps everything.
func BenchmarkTail(b *testing.B) {
	chunk := []byte("[    1.234567] virtio_net virtio0 eth0: a console line\r\n")
	b.Run("tail", func(b *testing.B) {
		tail := &Tail{Max: 1 << 20}
		for range (2 << 20) / len(chunk) {
			tail.Write(chunk)
		}
		b.SetBytes(int64(len(chunk)))
		for b.Loop() {
			tail.Write(chunk)
		}
	})
	b.Run("baseline-bytes.Buffer", func(b *testing.B) {
		var buf bytes.Buffer
		b.SetBytes(int64(len(chunk)))
		for b.Loop() {
			buf.Write(chunk)
		}
	})
}

// Several vCPUs under TCG share one host thread (multi-threaded TCG let
// the guest kernel's live code patching crash it); one vCPU needs no say.
func TestTCGThreads(t *testing.T) {
	for cpus, want := range map[int]string{1: "-accel tcg -cpu", 2: "-accel tcg,thread=single -cpu", 4: "-accel tcg,thread=single -cpu"} {
		args, _, err := (&Config{Kernel: "k", Initrd: "i", Accel: "tcg", CPUs: cpus}).Args()
		if err != nil {
			t.Fatal(err)
		}
		if line := strings.Join(args, " "); !strings.Contains(line, want) {
			t.Errorf("%d vCPUs: args lack %q:\n%s", cpus, want, line)
		}
	}
}
