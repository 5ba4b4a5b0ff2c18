package hw

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
)

// An Accelerator is a GPU, NPU or other device that could run (or, for a
// plain display adapter, clearly cannot run) inference. Whatever could not
// be read is left empty: nothing here is guessed.
type Accelerator struct {
	// Kind is "gpu" (PCI display class 0x03), "display" (a server
	// management or firmware framebuffer adapter), "npu" (a device of the
	// kernel's accel subsystem, /dev/accel/*) or "accelerator" (PCI class
	// 0x12, processing accelerator).
	Kind     string `json:"kind"`
	Bus      string `json:"bus"`     // "pci" or "platform"
	Address  string `json:"address"` // PCI address "0000:01:00.0", or the platform device's name
	Class    string `json:"class,omitempty"`
	VendorID string `json:"vendor_id,omitempty"` // "0x10de"
	DeviceID string `json:"device_id,omitempty"`
	Vendor   string `json:"vendor,omitempty"`
	// Name is the model, empty when unknown. NameSource says who named
	// it: "driver" (NVIDIA's /proc/driver/nvidia, amdgpu's product_name),
	// "devicetree", "builtin" (a virtual device's well-known id) or
	// "pci.ids" (the system's PCI id database).
	Name       string `json:"name,omitempty"`
	NameSource string `json:"name_source,omitempty"`
	Driver     string `json:"driver,omitempty"` // bound kernel driver; empty when none
	// MemoryBytes is the device's own memory where the driver says
	// (amdgpu's mem_info_vram_total); 0 when unknown.
	MemoryBytes int64  `json:"memory_bytes,omitempty"`
	Virtual     bool   `json:"virtual,omitempty"`    // emulated by a hypervisor (QEMU's bochs or virtio VGA ...)
	AccelNode   string `json:"accel_node,omitempty"` // "accel0" for /dev/accel/accel0
}

// pciVendors names the vendors of GPUs, NPUs and the virtual adapters
// met in VMs.
var pciVendors = map[uint16]string{
	0x10de: "NVIDIA", 0x1002: "AMD", 0x1022: "AMD", 0x8086: "Intel",
	0x1af4: "Red Hat (virtio)", 0x1b36: "Red Hat (QEMU)", 0x1234: "QEMU",
	0x15ad: "VMware", 0x1013: "Cirrus Logic", 0x1414: "Microsoft", 0x80ee: "Oracle (VirtualBox)",
	0x1a03: "ASPEED", 0x102b: "Matrox",
	0x1da3: "Habana Labs", 0x1e52: "Tenstorrent", 0x1d0f: "Amazon", 0x17cb: "Qualcomm",
	0x1ae0: "Google", 0x19e5: "Huawei",
}

// virtualDevices names the display adapters that hypervisors emulate.
var virtualDevices = map[[2]uint16]string{
	{0x1234, 0x1111}: "QEMU standard VGA (Bochs)",
	{0x1af4, 0x1050}: "virtio GPU",
	{0x1b36, 0x0100}: "QXL paravirtual graphics",
	{0x15ad, 0x0405}: "VMware SVGA II",
	{0x1013, 0x00b8}: "Cirrus Logic GD 5446 (emulated)",
	{0x1414, 0x5353}: "Hyper-V virtual VGA",
	{0x80ee, 0xbeef}: "VirtualBox graphics adapter",
}

// virtualVendors make nothing but emulated devices.
var virtualVendors = map[uint16]bool{0x1af4: true, 0x1b36: true, 0x1234: true, 0x80ee: true}

// managementDisplayVendors make the VGA chips of server management
// controllers: a screen for the console, not a GPU.
var managementDisplayVendors = map[uint16]bool{0x1a03: true, 0x102b: true}

// pciIDsFiles are where distributions keep the PCI id database.
var pciIDsFiles = []string{"usr/share/hwdata/pci.ids", "usr/share/misc/pci.ids", "usr/share/pci.ids"}

func detectAccelerators(s sysFS, warn func(error)) []Accelerator {
	var accs []Accelerator
	byAddr := map[string]int{}
	const pciDir = "sys/bus/pci/devices"
	if s.exists(pciDir) {
		ents, err := s.readDir(pciDir)
		if err != nil {
			warn(err)
		}
		npus := accelNodes(s, warn)
		for _, e := range ents {
			addr := e.Name()
			node, isNPU := npus[addr]
			a, ok, err := pciDevice(s, addr, isNPU)
			if err != nil {
				warn(err)
			}
			if !ok {
				continue
			}
			if isNPU {
				a.Kind, a.AccelNode = "npu", node
			}
			byAddr[addr] = len(accs)
			accs = append(accs, a)
		}
	}
	accs = append(accs, platformDevices(s, byAddr, warn)...)
	return accs
}

// pciDevice reads one PCI device and reports whether it is a GPU or
// accelerator (or, with always, whatever it is: an NPU's class varies).
func pciDevice(s sysFS, addr string, always bool) (Accelerator, bool, error) {
	dir := "sys/bus/pci/devices/" + addr + "/"
	class, err := s.readInt(dir + "class")
	if err != nil {
		return Accelerator{}, false, err
	}
	base := class >> 16
	if base != 0x03 && base != 0x12 && !always {
		return Accelerator{}, false, nil
	}
	vendor, err := s.readInt(dir + "vendor")
	if err != nil {
		return Accelerator{}, false, err
	}
	device, err := s.readInt(dir + "device")
	if err != nil {
		return Accelerator{}, false, err
	}
	v, d := uint16(vendor), uint16(device)
	a := Accelerator{
		Kind:     "gpu",
		Bus:      "pci",
		Address:  addr,
		Class:    fmt.Sprintf("0x%06x", class),
		VendorID: fmt.Sprintf("0x%04x", v),
		DeviceID: fmt.Sprintf("0x%04x", d),
		Vendor:   pciVendors[v],
		Driver:   linkBase(s, dir+"driver"),
	}
	switch {
	case base == 0x12:
		a.Kind = "accelerator"
	case managementDisplayVendors[v]:
		a.Kind = "display"
	}
	if name, ok := virtualDevices[[2]uint16{v, d}]; ok {
		a.Name, a.NameSource, a.Virtual = name, "builtin", true
	}
	a.Virtual = a.Virtual || virtualVendors[v]

	if a.Name == "" {
		a.Name = driverName(s, addr, v)
		if a.Name != "" {
			a.NameSource = "driver"
		}
	}
	if a.Name == "" || a.Vendor == "" {
		vn, dn := lookupPCIIDs(s, v, d)
		if a.Vendor == "" {
			a.Vendor = vn
		}
		if a.Name == "" && dn != "" {
			a.Name, a.NameSource = dn, "pci.ids"
		}
	}
	if n, err := s.readInt(dir + "mem_info_vram_total"); err == nil && n > 0 {
		a.MemoryBytes = n // amdgpu
	}
	return a, true, nil
}

// driverName asks the driver for the model: NVIDIA's proprietary driver
// writes it to /proc/driver/nvidia/gpus/<address>/information, amdgpu
// reads the board's FRU EEPROM into product_name.
func driverName(s sysFS, addr string, vendor uint16) string {
	if vendor == 0x10de {
		if b, err := s.read("proc/driver/nvidia/gpus/" + addr + "/information"); err == nil {
			if m := nvidiaModel(b); m != "" {
				return m
			}
		}
	}
	if n, err := s.readString("sys/bus/pci/devices/" + addr + "/product_name"); err == nil && n != "" {
		return n
	}
	return ""
}

// nvidiaModel finds "Model:  NVIDIA H100 80GB HBM3" in an information file.
func nvidiaModel(info []byte) string {
	for line := range strings.Lines(string(info)) {
		if v, ok := strings.CutPrefix(line, "Model:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// linkBase returns the last element of a symbolic link's target (the
// driver's or the device's name), or "" when there is no link.
func linkBase(s sysFS, name string) string {
	t, err := s.readLink(name)
	if err != nil {
		return ""
	}
	return path.Base(t)
}

// accelNodes maps the PCI addresses of accel-subsystem devices (NPUs:
// Intel's VPU, AMD's XDNA, Habana's Gaudi) to their node names.
func accelNodes(s sysFS, warn func(error)) map[string]string {
	nodes := map[string]string{}
	const dir = "sys/class/accel"
	if !s.exists(dir) {
		return nodes
	}
	ids, err := s.numberedEntries(dir, "accel")
	if err != nil {
		warn(err)
		return nodes
	}
	for _, id := range ids {
		node := "accel" + strconv.Itoa(id)
		if dev := linkBase(s, dir+"/"+node+"/device"); dev != "" {
			nodes[dev] = node
		}
	}
	return nodes
}

// platformDevices lists the accel and DRM devices that are not on PCI:
// the NPUs and GPUs of ARM systems-on-chip.
func platformDevices(s sysFS, onPCI map[string]int, warn func(error)) []Accelerator {
	var accs []Accelerator
	seen := map[string]bool{}
	for _, class := range []struct{ dir, prefix, kind string }{
		{"sys/class/accel", "accel", "npu"},
		{"sys/class/drm", "card", "gpu"},
	} {
		if !s.exists(class.dir) {
			continue
		}
		ids, err := s.numberedEntries(class.dir, class.prefix)
		if err != nil {
			warn(err)
			continue
		}
		for _, id := range ids {
			node := class.prefix + strconv.Itoa(id)
			devLink := class.dir + "/" + node + "/device"
			dev := linkBase(s, devLink)
			if dev == "" || seen[dev] {
				continue
			}
			if _, ok := onPCI[dev]; ok || s.exists("sys/bus/pci/devices/"+dev) {
				continue // listed from the PCI bus
			}
			seen[dev] = true
			a := Accelerator{Kind: class.kind, Bus: "platform", Address: dev, Driver: linkBase(s, devLink+"/driver")}
			if class.kind == "npu" {
				a.AccelNode = node
			}
			switch a.Driver {
			case "simple-framebuffer", "simpledrm", "efi-framebuffer", "vesa-framebuffer":
				a.Kind = "display" // the firmware's framebuffer, no GPU behind it
			case "vkms":
				a.Kind, a.Virtual = "display", true
			}
			if b, err := s.read(devLink + "/of_node/compatible"); err == nil {
				// A list of NUL-terminated strings, most specific first.
				if first, _, _ := bytes.Cut(b, []byte{0}); len(first) > 0 {
					a.Name, a.NameSource = string(first), "devicetree"
				}
			}
			accs = append(accs, a)
		}
	}
	return accs
}

// lookupPCIIDs names a vendor and device from the system's pci.ids, if it
// has one; empty strings when it has none or does not list them.
func lookupPCIIDs(s sysFS, vendor, device uint16) (vendorName, deviceName string) {
	for _, name := range pciIDsFiles {
		f, err := s.fsys.Open(name)
		if err != nil {
			continue
		}
		vendorName, deviceName, _ = parsePCIIDs(f, vendor, device)
		f.Close()
		return vendorName, deviceName
	}
	return "", ""
}

// parsePCIIDs scans a pci.ids database for a vendor and device:
//
//	10de  NVIDIA Corporation
//		2330  GH100 [H100 SXM5 80GB]
//			10de 16c1  H100 SXM5 80GB
//
// It reads line by line, stopping once past the vendor's section, so a
// large or corrupt file costs at most a line's worth of memory.
func parsePCIIDs(r io.Reader, vendor, device uint16) (vendorName, deviceName string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	inVendor := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		switch {
		case line[0] != '\t':
			if inVendor || strings.HasPrefix(line, "C ") {
				return vendorName, "", nil // past the vendor, or into the class list
			}
			if id, name, ok := pciIDLine(line); ok && id == vendor {
				vendorName, inVendor = name, true
			}
		case inVendor && !strings.HasPrefix(line, "\t\t"):
			if id, name, ok := pciIDLine(line[1:]); ok && id == device {
				return vendorName, name, nil
			}
		}
	}
	return vendorName, "", sc.Err()
}

// pciIDLine splits "10de  NVIDIA Corporation" into its id and name.
func pciIDLine(line string) (uint16, string, bool) {
	if len(line) < 6 || line[4] != ' ' {
		return 0, "", false
	}
	id, err := strconv.ParseUint(line[:4], 16, 16)
	if err != nil {
		return 0, "", false
	}
	return uint16(id), strings.TrimSpace(line[4:]), true
}
