package efiboot

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
)

// golden is the EFI_LOAD_OPTION of KernelOption("A", part, `\k`, {"x"}),
// assembled by hand from the UEFI spec (3.1.3, 10.3.5.1, 10.3.5.4).
var golden = strings.Join([]string{
	"01000000", // Attributes: LOAD_OPTION_ACTIVE
	"3800",     // FilePathListLength: 42 + 10 + 4 = 56
	"41000000", // Description "A", CHAR16, NUL-terminated
	// HD(): type 4 (media), subtype 1, length 42
	"04012a00",
	"02000000",                         // PartitionNumber 2
	"0008000000000000",                 // PartitionStart 2048
	"0000200000000000",                 // PartitionSize 0x200000
	"33221100554477668899aabbccddeeff", // signature, GUID byte order
	"02",                               // MBRType: GPT
	"02",                               // SignatureType: GUID
	// File(): type 4, subtype 4, length 4 + 6
	"04040a00", "5c006b000000", // "\k" NUL
	"7fff0400", // End of entire device path
	"78000000", // OptionalData: "x" in UCS-2, NUL
}, "")

var part = Partition{Number: 2, StartLBA: 2048, SizeLBA: 0x200000, UniqueGUID: "00112233-4455-6677-8899-aabbccddeeff"}

func TestLoadOptionGolden(t *testing.T) {
	o := KernelOption("A", part, `\k`, []string{"x"})
	b, err := o.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != golden {
		t.Fatalf("encoded\n%s\nwant\n%s", got, golden)
	}
	back, err := ParseLoadOption(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, o) {
		t.Errorf("decoded %+v, want %+v", back, o)
	}
	if s := DecodeUCS2(back.OptionalData); s != "x" {
		t.Errorf("command line %q", s)
	}
}

func TestLoadOptionRefuses(t *testing.T) {
	for _, o := range []LoadOption{
		{Partition: Partition{Number: 1, SizeLBA: 1, UniqueGUID: "nope"}, File: `\k`},
		{Partition: Partition{Number: 0, SizeLBA: 1, UniqueGUID: part.UniqueGUID}, File: `\k`},
		{Partition: part, File: "k"},
	} {
		if _, err := o.MarshalBinary(); err == nil {
			t.Errorf("%+v encoded", o)
		}
	}
	b, _ := hex.DecodeString(golden)
	for i := range len(b) - 4 { // every truncation inside the device path or before
		if _, err := ParseLoadOption(b[:i]); err == nil && i < 6+4+56 {
			t.Errorf("truncated to %d bytes: parsed", i)
		}
	}
}

func FuzzParseLoadOption(f *testing.F) {
	b, _ := hex.DecodeString(golden)
	f.Add(b)
	f.Add([]byte{1, 0, 0, 0, 4, 0, 0, 0, 0x7f, 0xff, 4, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseLoadOption(b)
		if err != nil {
			return
		}
		again, err := o.MarshalBinary()
		if err != nil {
			return // e.g. a zero partition number, which we do not write
		}
		o2, err := ParseLoadOption(again)
		if err != nil || !reflect.DeepEqual(o, o2) {
			t.Fatalf("round trip: %+v then %+v, %v", o, o2, err)
		}
	})
}

func TestVars(t *testing.T) {
	v := Vars{Dir: t.TempDir()}
	if _, ok, err := v.Number("BootNext"); ok || err != nil {
		t.Fatalf("missing BootNext: %v %v", ok, err)
	}
	if err := v.Set("BootNext", EncodeUint16s(0x0b0b)); err != nil {
		t.Fatal(err)
	}
	if n, ok, err := v.Number("BootNext"); n != 0x0b0b || !ok || err != nil {
		t.Fatalf("BootNext %#x %v %v", n, ok, err)
	}
	if err := v.Set("BootOrder", EncodeUint16s(1, 0x0a0a, 3)); err != nil {
		t.Fatal(err)
	}
	if o, err := v.BootOrder(); err != nil || !reflect.DeepEqual(o, []uint16{1, 0x0a0a, 3}) {
		t.Fatalf("BootOrder %v %v", o, err)
	}
	raw, _ := v.Get("BootOrder")
	if !bytes.Equal(raw, []byte{1, 0, 0x0a, 0x0a, 3, 0}) {
		t.Errorf("BootOrder bytes % x", raw)
	}
	if err := v.Delete("BootNext"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Get("BootNext"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after delete: %v", err)
	}
	if err := v.Set("BootOrder", []byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.BootOrder(); err == nil {
		t.Error("odd-length BootOrder accepted")
	}
	if BootName(0x0a0a) != "Boot0A0A" {
		t.Error(BootName(0x0a0a))
	}
}
