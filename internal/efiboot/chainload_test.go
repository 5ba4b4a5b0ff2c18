package efiboot

import (
	"bytes"
	"debug/pe"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// TestChainLoaderImage reads the loader back as a PE file and checks what
// firmware checks before it runs it: machine, subsystem, sections within
// the file and the image, entry point in the code.
func TestChainLoaderImage(t *testing.T) {
	b, err := ChainLoader(`\vmlinuz`, []string{`initrd=\initrd`, "console=ttyS0"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := pe.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
		t.Errorf("machine %#x", f.Machine)
	}
	if f.Characteristics&pe.IMAGE_FILE_RELOCS_STRIPPED != 0 {
		t.Error("relocations stripped: firmware could only load it at its image base")
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		t.Fatalf("optional header %T, want PE32+", f.OptionalHeader)
	}
	if oh.Subsystem != pe.IMAGE_SUBSYSTEM_EFI_APPLICATION {
		t.Errorf("subsystem %d", oh.Subsystem)
	}
	if len(f.Sections) != 2 || f.Sections[0].Name != ".text" || f.Sections[1].Name != ".data" {
		t.Fatalf("sections %v", f.Sections)
	}
	text, data := f.Sections[0], f.Sections[1]
	if text.Characteristics&pe.IMAGE_SCN_MEM_WRITE != 0 || data.Characteristics&pe.IMAGE_SCN_MEM_EXECUTE != 0 {
		t.Error("a section is both writable and executable")
	}
	for _, s := range f.Sections {
		if int(s.Offset+s.Size) > len(b) || s.VirtualAddress+max(s.VirtualSize, s.Size) > oh.SizeOfImage {
			t.Errorf("section %s out of bounds", s.Name)
		}
	}
	if oh.AddressOfEntryPoint != text.VirtualAddress {
		t.Errorf("entry %#x, code at %#x", oh.AddressOfEntryPoint, text.VirtualAddress)
	}
	code, err := text.Data()
	if err != nil {
		t.Fatal(err)
	}
	// The file path node and the command line are in the constants.
	if !bytes.Contains(code, append([]byte{4, 4, 22, 0}, UCS2(`\vmlinuz`)...)) {
		t.Error("no File(\\vmlinuz) device path node")
	}
	if !bytes.Contains(code, UCS2(`initrd=\initrd console=ttyS0`)) {
		t.Error("no command line")
	}
}

// wantListing is the loader's code as x86asm decodes it (Intel syntax),
// with jump targets and RIP-relative addresses replaced by their labels. It pins the encoding: an
// instruction that decodes to something else, or runs into the
// constants, fails here rather than in firmware.
var wantListing = `
push rbx
push rsi
push rdi
push r12
sub rsp, 0x58
mov rbx, qword ptr [rdx+0x60]
mov r12, rcx
mov rcx, r12
lea rdx, ptr [rip+guidLI]
lea r8, ptr [rsp+0x40]
call qword ptr [rbx+0x98]
test rax, rax
jnz fail
mov rax, qword ptr [rsp+0x40]
mov rcx, qword ptr [rax+0x18]
lea rdx, ptr [rip+guidDP]
lea r8, ptr [rsp+0x48]
call qword ptr [rbx+0x98]
test rax, rax
jnz fail
mov rsi, qword ptr [rsp+0x48]
lea rdi, ptr [rip+buf]
lea rcx, ptr [rip+bufLimit]
mov r9, rcx
cmp byte ptr [rsi], 0x7f
jz copied
movzx ecx, word ptr [rsi+0x2]
cmp ecx, 0x4
jb fail
lea rax, ptr [rdi+rcx]
cmp rax, r9
jnbe fail
rep movsb byte ptr [rdi], byte ptr [rsi]
jmp copy
lea rsi, ptr [rip+tail]
mov ecx, 0x1a
rep movsb byte ptr [rdi], byte ptr [rsi]
xor ecx, ecx
mov rdx, r12
lea r8, ptr [rip+buf]
xor r9d, r9d
mov qword ptr [rsp+0x20], 0x0
lea rax, ptr [rsp+0x50]
mov qword ptr [rsp+0x28], rax
call qword ptr [rbx+0xc8]
test rax, rax
jnz fail
mov rcx, qword ptr [rsp+0x50]
lea rdx, ptr [rip+guidLI]
lea r8, ptr [rsp+0x40]
call qword ptr [rbx+0x98]
test rax, rax
jnz fail
mov rax, qword ptr [rsp+0x40]
mov dword ptr [rax+0x30], 0x3a
lea rcx, ptr [rip+options]
mov qword ptr [rax+0x38], rcx
mov rcx, qword ptr [rsp+0x50]
xor edx, edx
xor r8d, r8d
call qword ptr [rbx+0xd0]
jmp out
mov rax, 0x8000000000000001
add rsp, 0x58
pop r12
pop rdi
pop rsi
pop rbx
ret
`

func TestChainLoaderCode(t *testing.T) {
	b, err := ChainLoader(`\vmlinuz`, []string{`initrd=\initrd`, "console=ttyS0"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := pe.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	code, err := f.Sections[0].Data()
	if err != nil {
		t.Fatal(err)
	}
	code = code[:f.Sections[0].VirtualSize]
	// Where the labels are: the code's own by finding the instruction
	// after the label, the constants by their bytes.
	rva := f.Sections[0].VirtualAddress
	names := map[uint32]string{f.Sections[1].VirtualAddress: "buf"}
	find := func(name string, b []byte) {
		i := bytes.Index(code, b)
		if i < 0 {
			t.Fatalf("%s not in the code section", name)
		}
		names[rva+uint32(i)] = name
	}
	find("guidLI", guid(0x5b1b31a1, 0x9562, 0x11d2, 0x8e, 0x3f, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b))
	find("guidDP", guid(0x09576e91, 0x6d3f, 0x11d2, 0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b))
	tail := append(deviceNode(4, 4, UCS2(`\vmlinuz`)), 0x7f, 0xff, 4, 0)
	find("tail", tail)
	find("options", UCS2(`initrd=\initrd console=ttyS0`))
	names[f.Sections[1].VirtualAddress+4096-uint32(len(tail))] = "bufLimit"

	var got []string
	var starts []uint32
	for pc := 0; pc < len(code); {
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil {
			t.Fatalf("at %#x: %v", pc, err)
		}
		starts = append(starts, uint32(pc))
		got = append(got, x86asm.IntelSyntax(inst, uint64(rva)+uint64(pc), nil))
		pc += inst.Len
		if inst.Op == x86asm.RET {
			break
		}
	}
	// Jump targets: the code labels, named by what they start.
	labelAt := map[uint32]string{}
	for _, l := range []struct {
		name  string
		first string // the instruction at the label
	}{{"copy", "cmp byte ptr [rsi], 0x7f"}, {"copied", "lea rsi, ptr [rip+"}, {"fail", "mov rax, 0x8000000000000001"}, {"out", "add rsp, 0x58"}} {
		for i, s := range got {
			if strings.HasPrefix(s, l.first) {
				labelAt[rva+starts[i]] = l.name
				break
			}
		}
	}
	for i, s := range got {
		// Rewrite absolute targets and RIP-relative addresses as names.
		if j := strings.Index(s, "[rip+"); j >= 0 {
			if disp, err := strconv.ParseInt(s[j+5:len(s)-1], 0, 64); err == nil {
				next := rva + starts[i]
				if i+1 < len(starts) {
					next = rva + starts[i+1]
				}
				if n, ok := names[uint32(int64(next)+disp)]; ok {
					s = s[:j+5] + n + "]"
				}
			}
		}
		if f := strings.Fields(s); len(f) == 2 && strings.HasPrefix(f[0], "j") && strings.HasPrefix(f[1], "0x") {
			if target, err := strconv.ParseInt(f[1], 0, 64); err == nil {
				if n, ok := labelAt[uint32(target)]; ok {
					s = f[0] + " " + n
				}
			}
		}
		got[i] = s
	}
	if g, w := strings.Join(got, "\n"), strings.TrimSpace(wantListing); g != w {
		t.Errorf("code:\n%s\nwant:\n%s", g, w)
	}
}

// TestChainLoaderRefuses checks the paths the loader cannot hold.
func TestChainLoaderRefuses(t *testing.T) {
	for _, file := range []string{"vmlinuz", "/vmlinuz", "\\a\x00b", ""} {
		if _, err := ChainLoader(file, nil); err == nil {
			t.Errorf("ChainLoader(%q) accepted", file)
		}
	}
	if _, err := ChainLoader(`\k`, []string{strings.Repeat("x", 5000)}); err == nil {
		t.Error("a 5000-character command line was accepted")
	}
}
