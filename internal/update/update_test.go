package update

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/raym33/ainative/internal/efiboot"
)

// system writes a kernel and an initrd and returns a manifest of them.
func system(t testing.TB, kernel, initrd string) (*SlotManifest, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	k, i := filepath.Join(dir, "k"), filepath.Join(dir, "i")
	os.WriteFile(k, []byte(kernel), 0o644)
	os.WriteFile(i, []byte(initrd), 0o644)
	paths, order := BundleFiles(k, i)
	// A manifest longer than a sector, as a real one is.
	m, err := NewManifest("", runtime.GOARCH, []string{"console=ttyS0", "panic=-1", "ainative.data=PARTLABEL=" + strings.Repeat("x", 300)}, paths, order)
	if err != nil {
		t.Fatal(err)
	}
	return m, paths
}

func bundle(t testing.TB, key ed25519.PrivateKey, kernel, initrd string) []byte {
	t.Helper()
	m, paths := system(t, kernel, initrd)
	var b bytes.Buffer
	if err := WriteBundle(&b, m, paths, key); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestVerifyBundle(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	signed := bundle(t, priv, "KERNEL", strings.Repeat("initrd ", 1000))
	unsigned := bundle(t, nil, "KERNEL", "INITRD")

	m, err := Verify(bytes.NewReader(signed), pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 2 || m.Files[0].Name != Kernel || m.Files[0].Size != 6 || len(m.Version) != 12 {
		t.Errorf("manifest %+v", m)
	}
	if _, err := Verify(bytes.NewReader(unsigned), nil, nil); err != nil {
		t.Errorf("unsigned bundle without a key: %v", err)
	}
	if _, err := Verify(bytes.NewReader(unsigned), pub, nil); !errors.Is(err, ErrUnsigned) {
		t.Errorf("unsigned bundle with a key: %v", err)
	}
	if _, err := Verify(bytes.NewReader(signed), otherPub, nil); err == nil || !strings.Contains(err.Error(), "signature does not match") {
		t.Errorf("wrong key: %v", err)
	}
	// Cut anywhere before the end of the last file's contents (its tar
	// padding and the archive's trailer carry nothing that is hashed).
	end := bytes.LastIndex(signed, []byte("initrd ")) + len("initrd ")
	for n := 0; n < end; n += 97 {
		if _, err := Verify(bytes.NewReader(signed[:n]), nil, nil); err == nil {
			t.Fatalf("truncated to %d of %d bytes: accepted", n, len(signed))
		}
	}
	// Any changed byte of a file's contents is caught by its hash; of the
	// manifest, by the signature.
	i := bytes.Index(signed, []byte("initrd initrd"))
	tampered := bytes.Clone(signed)
	tampered[i] = 'X'
	if _, err := Verify(bytes.NewReader(tampered), nil, nil); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("tampered initrd: %v", err)
	}
	j := bytes.Index(signed, []byte(`"console=ttyS0"`))
	tampered = bytes.Clone(signed)
	copy(tampered[j:], `"console=ttyS1"`)
	if _, err := Verify(bytes.NewReader(tampered), pub, nil); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("tampered manifest: %v", err)
	}
}

func TestManifestRefuses(t *testing.T) {
	good, _ := system(t, "k", "i")
	for name, change := range map[string]func(m *SlotManifest){
		"format":      func(m *SlotManifest) { m.Format = 2 },
		"arch":        func(m *SlotManifest) { m.Arch = "riscv64" },
		"no initrd":   func(m *SlotManifest) { m.Files = m.Files[:1] },
		"dup":         func(m *SlotManifest) { m.Files[1].Name = Kernel },
		"path":        func(m *SlotManifest) { m.Files[1].Name = "../initrd" },
		"hash":        func(m *SlotManifest) { m.Files[0].SHA256 = "abc" },
		"huge":        func(m *SlotManifest) { m.Files[0].Size = 1 << 40 },
		"cmdline":     func(m *SlotManifest) { m.Cmdline = []string{"a b"} },
		"no version":  func(m *SlotManifest) { m.Version = "" },
		"negative":    func(m *SlotManifest) { m.Files[0].Size = -1 },
		"sig as file": func(m *SlotManifest) { m.Files[0].Name = SignatureFile },
	} {
		m := *good
		m.Files = append([]File(nil), good.Files...)
		change(&m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParseManifest([]byte(`{"format":1,"extra":1}`)); err == nil {
		t.Error("unknown field accepted")
	}
}

func FuzzParseManifest(f *testing.F) {
	m, _ := system(f, "k", "i")
	raw, _ := json.Marshal(m)
	f.Add(raw)
	f.Add([]byte(`{"format":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err == nil && m.Validate() != nil {
			t.Fatal("parsed an invalid manifest")
		}
	})
}

func FuzzVerify(f *testing.F) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	f.Add(bundle(f, priv, "KERNEL", "INITRD"))
	f.Add(bundle(f, nil, "K", ""))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Verify(bytes.NewReader(b), nil, nil)
		if err == nil && m.Validate() != nil {
			t.Fatal("verified a bundle with an invalid manifest")
		}
	})
}

const slotSize = 40 << 20

// fakeMachine is a disk with slot partitions as the update code sees it
// in a running system: sysfs entries, device files, efivarfs.
type fakeMachine struct {
	sys       string
	dev       string
	vars      efiboot.Vars
	lock      string
	guidA, gB string
}

func newFakeMachine(t *testing.T) *fakeMachine {
	t.Helper()
	root := t.TempDir()
	fm := &fakeMachine{sys: filepath.Join(root, "sys"), dev: filepath.Join(root, "dev"), vars: efiboot.Vars{Dir: filepath.Join(root, "efivars")}, lock: filepath.Join(root, "run", "update.lock")}
	for _, d := range []string{fm.sys, fm.dev, fm.vars.Dir, filepath.Join(root, "devices", "vda", "queue")} {
		os.MkdirAll(d, 0o755)
	}
	// The whole disk holds only the GPT: the slots' contents live in
	// their own files, as /dev/vda2 and /dev/vda3 do.
	disk := filepath.Join(fm.dev, "vda")
	os.WriteFile(disk, nil, 0o644)
	os.Truncate(disk, 8<<20)
	d, err := diskfs.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	table := &gpt.Table{LogicalSectorSize: 512, PhysicalSectorSize: 512, ProtectiveMBR: true, Partitions: []*gpt.Partition{
		{Index: 1, Start: 2048, End: 4095, Type: gpt.EFISystemPartition, Name: "ainative-esp"},
		{Index: 2, Start: 4096, End: 6143, Type: gpt.LinuxFilesystem, Name: SlotALabel},
		{Index: 3, Start: 6144, End: 8191, Type: gpt.LinuxFilesystem, Name: SlotBLabel},
	}}
	if err := d.Partition(table); err != nil {
		t.Fatal(err)
	}
	d.Close()
	fm.guidA, fm.gB = strings.ToLower(table.Partitions[1].GUID), strings.ToLower(table.Partitions[2].GUID)
	os.Symlink(filepath.Join(root, "devices", "vda"), filepath.Join(fm.sys, "vda"))
	os.WriteFile(filepath.Join(root, "devices", "vda", "queue", "logical_block_size"), []byte("512\n"), 0o644)
	for i, label := range []string{SlotALabel, SlotBLabel} {
		name := "vda" + strconv.Itoa(i+2)
		pd := filepath.Join(root, "devices", "vda", name)
		os.MkdirAll(pd, 0o755)
		os.WriteFile(filepath.Join(pd, "uevent"), []byte("MAJOR=254\nDEVNAME="+name+"\nDEVTYPE=partition\nPARTN="+strconv.Itoa(i+2)+"\nPARTNAME="+label+"\n"), 0o644)
		os.WriteFile(filepath.Join(pd, "partition"), []byte(strconv.Itoa(i+2)+"\n"), 0o644)
		os.WriteFile(filepath.Join(pd, "start"), []byte(strconv.Itoa(4096+2048*i)+"\n"), 0o644)
		os.WriteFile(filepath.Join(pd, "size"), []byte(strconv.Itoa(slotSize/512)+"\n"), 0o644)
		os.Symlink(pd, filepath.Join(fm.sys, name))
		p := filepath.Join(fm.dev, name)
		os.WriteFile(p, nil, 0o644)
		os.Truncate(p, slotSize)
	}
	return fm
}

func (fm *fakeMachine) booted(slot string) *System {
	return &System{Vars: fm.vars, SysBlock: fm.sys, DevDir: fm.dev, Cmdline: "console=ttyS0 " + SlotParam + "=" + slot, LockPath: fm.lock}
}

func (fm *fakeMachine) writeSlot(t *testing.T, name string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(fm.dev, map[string]string{"a": "vda2", "b": "vda3"}[name]), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := WriteSlot(file.New(f, false), 0, slotSize, "AINATIVE-A", bytes.NewReader(b), nil, nil, nil); err != nil {
		t.Fatal(err)
	}
}

func opener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func TestInstallCommitRollback(t *testing.T) {
	fm := newFakeMachine(t)
	fm.writeSlot(t, "a", bundle(t, nil, "KERNEL-1", "INITRD-1"))
	fm.vars.Set("BootOrder", efiboot.EncodeUint16s(0x0001, 0x0002)) // the firmware's own entries
	a := fm.booted("a")

	// First healthy boot of slot A: entries written, A first.
	if changed, err := a.Commit(context.Background()); err != nil || !changed {
		t.Fatalf("commit: %v %v", changed, err)
	}
	if o, _ := fm.vars.BootOrder(); !reflect.DeepEqual(o, []uint16{0x0A0A, 1, 2}) {
		t.Fatalf("BootOrder %04X", o)
	}
	raw, err := fm.vars.Get("Boot0A0A")
	if err != nil {
		t.Fatal(err)
	}
	opt, err := efiboot.ParseLoadOption(raw)
	if err != nil {
		t.Fatal(err)
	}
	wantPart := efiboot.Partition{Number: 2, StartLBA: 4096, SizeLBA: slotSize / 512, UniqueGUID: fm.guidA}
	if opt.Partition != wantPart || opt.File != `\vmlinuz` || efiboot.DecodeUCS2(opt.OptionalData) != `initrd=\initrd console=ttyS0 panic=-1 ainative.data=PARTLABEL=`+strings.Repeat("x", 300)+` ainative.slot=a` {
		t.Errorf("Boot0A0A: %+v %q", opt, efiboot.DecodeUCS2(opt.OptionalData))
	}
	if changed, err := a.Commit(context.Background()); err != nil || changed {
		t.Errorf("second commit changed BootOrder: %v %v", changed, err)
	}

	// A tampered bundle is refused before anything is switched.
	good := bundle(t, nil, "KERNEL-2", "INITRD-2")
	bad := bytes.Clone(good)
	bad[bytes.Index(bad, []byte("INITRD-2"))] = 'X'
	if _, err := a.Install(context.Background(), opener(bad), nil, nil); err == nil {
		t.Fatal("tampered bundle installed")
	}
	if _, ok, _ := fm.vars.Number("BootNext"); ok {
		t.Fatal("BootNext set by a refused bundle")
	}
	// So is another architecture's system.
	other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[runtime.GOARCH]
	om, opaths := system(t, "KERNEL-2", "INITRD-2")
	om.Arch = other
	var ob bytes.Buffer
	if err := WriteBundle(&ob, om, opaths, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Install(context.Background(), opener(ob.Bytes()), nil, nil); err == nil || !strings.Contains(err.Error(), "holds an "+other+" system") {
		t.Fatalf("%s bundle: %v", other, err)
	}

	seen := map[string]int64{}
	res, err := a.Install(context.Background(), opener(good), nil, func(phase string, done, total int64) {
		if total != int64(len("KERNEL-2INITRD-2")) {
			t.Errorf("progress total %d", total)
		}
		seen[phase] = done
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Slot != "b" || res.Previous != "a" || seen["verifying"] != 16 || seen["writing slot b"] != 16 {
		t.Errorf("result %+v, progress %v", res, seen)
	}
	st, err := a.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Current != "a" || st.Committed != "a" || st.Next != "b" || st.Trial || st.Slots[1].Manifest == nil || st.Slots[1].Manifest.Version != res.Manifest.Version {
		t.Errorf("status after install: %+v", st)
	}
	if o, _ := fm.vars.BootOrder(); !reflect.DeepEqual(o, []uint16{0x0A0A, 1, 2}) {
		t.Errorf("install changed BootOrder: %04X", o)
	}

	// The firmware boots B once (and deletes BootNext); on trial, B
	// cannot be updated over A.
	fm.vars.Delete("BootNext")
	b := fm.booted("b")
	if st, _ := b.Status(); !st.Trial || st.Committed != "a" {
		t.Errorf("status on trial: %+v", st)
	}
	if _, err := b.Install(context.Background(), opener(good), nil, nil); err == nil || !strings.Contains(err.Error(), "on trial") {
		t.Errorf("install on trial: %v", err)
	}
	if changed, err := b.Commit(context.Background()); err != nil || !changed {
		t.Fatalf("commit b: %v %v", changed, err)
	}
	if o, _ := fm.vars.BootOrder(); !reflect.DeepEqual(o, []uint16{0x0B0B, 0x0A0A, 1, 2}) {
		t.Fatalf("BootOrder after commit of b %04X", o)
	}

	// A write cut short leaves a slot without a manifest, reported empty.
	f, _ := os.OpenFile(filepath.Join(fm.dev, "vda2"), os.O_RDWR, 0)
	_, err = WriteSlot(file.New(f, false), 0, slotSize, "AINATIVE-A", bytes.NewReader(good[:bytes.Index(good, []byte("INITRD-2"))+4]), nil, nil, nil)
	f.Close()
	if err == nil {
		t.Fatal("truncated bundle written")
	}
	if st, _ := b.Status(); st.Slots[0].Manifest != nil || !strings.Contains(st.Slots[0].Problem, "no manifest") {
		t.Errorf("slot a after a cut write: %+v", st.Slots[0])
	}
	// A bundle that changed between the verifying pass and the write is
	// refused, and so is one whose file changed under a same manifest.
	f, _ = os.OpenFile(filepath.Join(fm.dev, "vda2"), os.O_RDWR, 0)
	defer f.Close()
	if _, err := WriteSlot(file.New(f, false), 0, slotSize, "X", bytes.NewReader(good), nil, []byte("{}"), nil); err == nil || !strings.Contains(err.Error(), "changed after it was verified") {
		t.Errorf("changed manifest: %v", err)
	}
	if _, err := WriteSlot(file.New(f, false), 0, slotSize, "X", bytes.NewReader(bad), nil, nil, nil); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("changed file: %v", err)
	}
}

func TestInstallWaitsForTheLock(t *testing.T) {
	fm := newFakeMachine(t)
	fm.writeSlot(t, "a", bundle(t, nil, "KERNEL-1", "INITRD-1"))
	a := fm.booted("a")
	a.init()
	unlock, err := a.lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Install(ctx, opener(bundle(t, nil, "K", "I")), nil, nil); err == nil || !strings.Contains(err.Error(), "another update") {
		t.Errorf("install while another holds the lock: %v", err)
	}
	if _, err := fm.booted("a").Commit(ctx); err == nil {
		t.Error("commit while an update holds the lock")
	}
	unlock()
	if _, err := a.Install(context.Background(), opener(bundle(t, nil, "K", "I")), nil, nil); err != nil {
		t.Errorf("install after the lock was released: %v", err)
	}
}

func TestNotASlotSystem(t *testing.T) {
	fm := newFakeMachine(t)
	s := &System{Vars: fm.vars, SysBlock: fm.sys, DevDir: fm.dev, Cmdline: "console=ttyS0", LockPath: fm.lock}
	if _, err := s.Install(context.Background(), opener(nil), nil, nil); err == nil || !strings.Contains(err.Error(), "not booted from a slot") {
		t.Errorf("install: %v", err)
	}
	empty := &System{Vars: fm.vars, SysBlock: t.TempDir(), DevDir: fm.dev, Cmdline: SlotParam + "=a", LockPath: fm.lock}
	if _, err := empty.Status(); err == nil || !strings.Contains(err.Error(), "no partition named") {
		t.Errorf("status without slots: %v", err)
	}
	if d := (&System{Cmdline: HealthDeadlineParam + "=5s"}).HealthDeadline(); d.Seconds() != 5 {
		t.Errorf("deadline %v", d)
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	privDER, _ := x509.MarshalPKCS8PrivateKey(priv)
	pubDER, _ := x509.MarshalPKIXPublicKey(pub)
	privPath, pubPath := filepath.Join(dir, "key.pem"), filepath.Join(dir, "update.pub")
	os.WriteFile(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600)
	os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644)

	k, err := LoadPrivateKey(privPath)
	if err != nil || !k.Equal(priv) {
		t.Fatalf("private key: %v", err)
	}
	missing := filepath.Join(dir, "none.pub")
	got, from, err := LoadPublicKey([]string{missing, pubPath})
	if err != nil || !got.Equal(pub) || from != pubPath {
		t.Fatalf("public key: %v from %q, %v", got, from, err)
	}
	if got, _, err := LoadPublicKey([]string{missing}); got != nil || err != nil {
		t.Errorf("no key configured: %v %v", got, err)
	}
	// A key file that is there but unusable is an error, never "no key".
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	for name, body := range map[string][]byte{
		"garbage": []byte("not a key"),
		"ecdsa":   pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}),
		"private": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}),
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, body, 0o644)
		if k, _, err := LoadPublicKey([]string{p, pubPath}); err == nil {
			t.Errorf("%s key file: accepted (%v)", name, k)
		}
	}
	if _, err := LoadPrivateKey(pubPath); err == nil {
		t.Error("a public key loaded as a private one")
	}
}
