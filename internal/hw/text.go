package hw

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteText writes i for people to read: one section per subject (CPU,
// features, cores, caches, memory, NUMA, bandwidth, accelerators), keys
// aligned within each.
func (i *Info) WriteText(w io.Writer) error {
	// Every row is "key<TAB>value"; section titles are rows with no
	// value, and the tabwriter aligns the values of all sections alike.
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	section := func(title string) { fmt.Fprintf(tw, "%s\t\n", title) }
	row := func(key, format string, args ...any) {
		fmt.Fprintf(tw, "  %s\t%s\n", key, fmt.Sprintf(format, args...))
	}

	c := i.CPU
	section("CPU")
	row("model", "%s", orUnknown(c.ModelName))
	vendor := orUnknown(c.Vendor)
	if c.X86 != nil {
		vendor += fmt.Sprintf(", family %d model %d stepping %d", c.X86.Family, c.X86.Model, c.X86.Stepping)
	}
	if c.ARM != nil {
		vendor += fmt.Sprintf(", part 0x%03x variant %d revision %d", c.ARM.Part, c.ARM.Variant, c.ARM.Revision)
	}
	row("vendor", "%s", vendor)
	arch := c.Arch
	if c.Hypervisor {
		arch += " (virtual machine)"
	}
	row("arch", "%s", arch)
	if i.Kernel != "" {
		row("kernel", "Linux %s", i.Kernel)
	}

	section("Features")
	names := c.Features.Names()
	if len(names) == 0 {
		names = []string{"none of those inference kernels use"}
	}
	row("isa", "%s", strings.Join(names, " "))
	row("source", "%s", c.FeatureSource)
	for _, m := range c.FeatureMismatches {
		row("mismatch", "%s", m)
	}

	k := i.Cores
	section("Cores")
	row("logical", "%d (online %s)", k.Logical, orUnknown(k.Online.String()))
	row("physical", "%d in %d socket%s", k.Physical, k.Sockets, plural(k.Sockets))
	row("allowed", "%s (%d CPU%s on %d core%s)", orUnknown(k.Allowed.String()),
		len(k.Allowed), plural(len(k.Allowed)), k.AllowedPhysical, plural(k.AllowedPhysical))
	if k.CgroupQuota > 0 {
		row("cgroup quota", "%s CPUs (%s)", strconv.FormatFloat(k.CgroupQuota, 'f', -1, 64), k.CgroupQuotaSource)
	} else {
		row("cgroup quota", "none")
	}
	row("effective", "%s CPUs", strconv.FormatFloat(k.Effective, 'f', -1, 64))
	row("default threads", "%d", i.DefaultThreads())

	section("Caches")
	if len(i.Caches) == 0 {
		row("caches", "unknown")
	}
	for _, ca := range i.Caches {
		s := FormatBytes(ca.SizeBytes)
		if ca.Instances > 0 {
			s += fmt.Sprintf(" x %d", ca.Instances)
		}
		if ca.SharedBy > 0 {
			s += fmt.Sprintf(" (shared by %d CPU%s)", ca.SharedBy, plural(ca.SharedBy))
		}
		row(ca.Name(), "%s", s)
	}

	m := i.Memory
	section("Memory")
	row("total", "%s", sizeOrUnknown(m.Total))
	row("available", "%s", sizeOrUnknown(m.Available))
	if m.CgroupLimit > 0 {
		row("cgroup limit", "%s (%s)", FormatBytes(m.CgroupLimit), m.CgroupLimitSource)
		row("cgroup usage", "%s, room %s", FormatBytes(m.CgroupUsage), FormatBytes(m.CgroupAvailable))
	} else {
		row("cgroup limit", "none")
	}
	row("effective", "%s", sizeOrUnknown(i.EffectiveMemory()))

	section("NUMA")
	if len(i.NUMA) == 0 {
		row("nodes", "unknown (no /sys/devices/system/node)")
	}
	for _, n := range i.NUMA {
		row(fmt.Sprintf("node %d", n.ID), "CPUs %s, %s", orUnknown(n.CPUs.String()), sizeOrUnknown(n.MemTotalBytes))
	}

	section("Bandwidth")
	if len(i.Bandwidth) == 0 {
		row("memory read", "not measured")
	}
	for _, b := range i.Bandwidth {
		row(fmt.Sprintf("read, %d thread%s", b.Threads, plural(b.Threads)), "%.1f GB/s (median of %d passes over %s, best %.1f; %s)",
			b.GBs, b.Passes, FormatBytes(b.Bytes), b.BestGBs, b.Kernel)
	}

	section("Accelerators")
	if len(i.Accelerators) == 0 {
		row("devices", "none found")
	}
	for _, a := range i.Accelerators {
		row(a.Address, "%s", a.describe())
	}

	if len(i.Warnings) > 0 {
		section("Warnings")
		for _, wn := range i.Warnings {
			row("-", "%s", wn)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Drop the padding the tabwriter leaves after section titles.
	var out bytes.Buffer
	for line := range bytes.Lines(buf.Bytes()) {
		out.Write(bytes.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := w.Write(out.Bytes())
	return err
}

// describe says in one line what the device is.
func (a Accelerator) describe() string {
	var b strings.Builder
	b.WriteString(a.Kind)
	if a.Virtual {
		b.WriteString(" (virtual)")
	}
	b.WriteString("  ")
	name := a.Name
	if name == "" {
		name = "unknown model"
	}
	if a.Vendor != "" && !strings.HasPrefix(name, a.Vendor) {
		name = a.Vendor + " " + name
	}
	b.WriteString(name)
	if a.VendorID != "" {
		fmt.Fprintf(&b, " [%s:%s]", strings.TrimPrefix(a.VendorID, "0x"), strings.TrimPrefix(a.DeviceID, "0x"))
	}
	if a.Driver != "" {
		fmt.Fprintf(&b, ", driver %s", a.Driver)
	} else {
		b.WriteString(", no driver")
	}
	if a.AccelNode != "" {
		fmt.Fprintf(&b, ", /dev/accel/%s", a.AccelNode)
	}
	if a.MemoryBytes > 0 {
		fmt.Fprintf(&b, ", memory %s", FormatBytes(a.MemoryBytes))
	} else {
		b.WriteString(", memory unknown")
	}
	return b.String()
}

// FormatBytes writes n in binary units: "32 KiB", "23.5 GiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 5 {
		v /= unit
		i++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + string("KMGTPE"[i]) + "iB"
}

func sizeOrUnknown(n int64) string {
	if n <= 0 {
		return "unknown"
	}
	return FormatBytes(n)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
