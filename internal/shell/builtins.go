package shell

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
	"mvdan.cc/sh/v3/interp"

	"github.com/raym33/ainative/internal/hw"
)

// builtin is one utility: a one-line summary for `help` and its body.
type builtin struct {
	summary string
	run     func(e *Env, args []string) error
}

var builtins map[string]builtin

func init() {
	// Assigned in init because `utils` refers to the map itself.
	builtins = map[string]builtin{
		"cat":      {"cat [FILE...]: print files (- or none: standard input)", cat},
		"cp":       {"cp SRC DST: copy a file", cp},
		"df":       {"df [-h] [PATH...]: free space of the mounted file systems (of PATHs)", df},
		"dmesg":    {"dmesg: print the kernel log", dmesg},
		"free":     {"free [-m]: memory use in KiB (MiB)", free},
		"utils":    {"utils: list these built-in utilities (help lists the shell's own)", utils},
		"hostname": {"hostname [NAME]: print or set the host name", hostname},
		"kill":     {"kill [-SIGNAL] PID|%JOB...: send a signal (default TERM)", kill},
		"ls":       {"ls [-la] [PATH...]: list directory contents", ls},
		"mkdir":    {"mkdir [-p] DIR...: make directories", mkdir},
		"mount":    {"mount [-t TYPE] [-o OPTS] SRC DIR: mount; no arguments: list mounts", mount},
		"mv":       {"mv SRC DST: rename a file", mv},
		"poweroff": {"poweroff: stop the services and power off (ainative as PID 1 only)", powerCmd(syscall.SIGTERM)},
		"ps":       {"ps: list processes", ps},
		"reboot":   {"reboot: stop the services and reboot (ainative as PID 1 only)", powerCmd(syscall.SIGUSR1)},
		"rm":       {"rm [-rf] PATH...: remove files", rm},
		"sleep":    {"sleep SECONDS: wait", sleep},
		"sync":     {"sync: write cached data to the disks", syncCmd},
		"umount":   {"umount DIR: unmount", umount},
		"uname":    {"uname [-a|-s|-r|-m|-n]: system information", uname},
		"uptime":   {"uptime: time since boot and load", uptime},
	}
}

// parse parses args with the given flag set, reporting errors as usage.
func parse(e *Env, fs *flag.FlagSet, args []string) error {
	fs.SetOutput(e.Stderr)
	if err := fs.Parse(args); err != nil {
		return interp.ExitStatus(2)
	}
	return nil
}

func newFlags(name string) *flag.FlagSet { return flag.NewFlagSet(name, flag.ContinueOnError) }

func utils(e *Env, args []string) error {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(e.Stdout, "Built-in utilities (help lists the shell's builtins: cd, echo, export, test...):")
	for _, n := range names {
		fmt.Fprintln(e.Stdout, "  "+builtins[n].summary)
	}
	return nil
}

func cat(e *Env, args []string) error {
	if len(args) == 0 {
		args = []string{"-"}
	}
	var failed error
	for _, a := range args {
		if e.Ctx.Err() != nil {
			return e.Ctx.Err()
		}
		if a == "-" {
			if _, err := io.Copy(e.Stdout, e.reader(e.Stdin)); err != nil {
				return err
			}
			continue
		}
		f, err := os.Open(e.abs(a))
		if err != nil {
			fmt.Fprintf(e.Stderr, "cat: %v\n", err)
			failed = interp.ExitStatus(1)
			continue
		}
		_, err = io.Copy(e.Stdout, e.reader(f))
		f.Close()
		if err != nil {
			return err
		}
	}
	return failed
}

func cp(e *Env, args []string) error {
	if len(args) != 2 {
		return usage(e, "cp SRC DST")
	}
	src, dst := e.abs(args[0]), e.abs(args[1])
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		dst = filepath.Join(dst, filepath.Base(src))
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory (cp copies files)", args[0])
	}
	// Opening dst truncates it: if it is src, that would destroy the
	// data before reading it.
	if dfi, err := os.Stat(dst); err == nil && os.SameFile(fi, dfi) {
		return fmt.Errorf("%s and %s are the same file", args[0], args[1])
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, e.reader(in)); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func mv(e *Env, args []string) error {
	if len(args) != 2 {
		return usage(e, "mv SRC DST")
	}
	src, dst := e.abs(args[0]), e.abs(args[1])
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		dst = filepath.Join(dst, filepath.Base(src))
	}
	return os.Rename(src, dst)
}

func usage(e *Env, u string) error {
	fmt.Fprintln(e.Stderr, "usage: "+u)
	return interp.ExitStatus(2)
}

func dmesg(e *Env, args []string) error {
	const actionReadAll, actionSizeBuffer = 3, 10
	size, err := unix.Klogctl(actionSizeBuffer, nil)
	if err != nil {
		return err
	}
	buf := make([]byte, size)
	n, err := unix.Klogctl(actionReadAll, buf)
	if err != nil {
		return err
	}
	// Lines start with a "<level>" prefix; print them as dmesg does, without it.
	for _, line := range bytes.SplitAfter(buf[:n], []byte("\n")) {
		if len(line) > 0 && line[0] == '<' {
			if i := bytes.IndexByte(line, '>'); i > 0 && i < 5 {
				line = line[i+1:]
			}
		}
		e.Stdout.Write(line)
	}
	return nil
}

func free(e *Env, args []string) error {
	fs := newFlags("free")
	mib := fs.Bool("m", false, "show MiB")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	m, err := hw.Meminfo()
	if err != nil {
		return err
	}
	div := int64(1 << 10)
	if *mib {
		div = 1 << 20
	}
	total, free, avail := m["MemTotal"], m["MemFree"], m["MemAvailable"]
	buffCache := m["Buffers"] + m["Cached"] + m["SReclaimable"]
	used := total - min(total, free+buffCache)
	w := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\ttotal\tused\tfree\tshared\tbuff/cache\tavailable\t")
	fmt.Fprintf(w, "Mem:\t%d\t%d\t%d\t%d\t%d\t%d\t\n", total/div, used/div, free/div, m["Shmem"]/div, buffCache/div, avail/div)
	fmt.Fprintf(w, "Swap:\t%d\t%d\t%d\t\t\t\t\n", m["SwapTotal"]/div, max(m["SwapTotal"]-m["SwapFree"], 0)/div, m["SwapFree"]/div)
	return w.Flush()
}

func hostname(e *Env, args []string) error {
	switch len(args) {
	case 0:
		h, err := os.Hostname()
		if err != nil {
			return err
		}
		fmt.Fprintln(e.Stdout, h)
		return nil
	case 1:
		return unix.Sethostname([]byte(args[0]))
	}
	return usage(e, "hostname [NAME]")
}

func kill(e *Env, args []string) error {
	sig := syscall.SIGTERM
	if len(args) > 0 && strings.HasPrefix(args[0], "-") {
		name := strings.TrimPrefix(strings.ToUpper(args[0][1:]), "SIG")
		if n, err := strconv.Atoi(name); err == nil {
			sig = syscall.Signal(n)
		} else if s := unix.SignalNum("SIG" + name); s != 0 {
			sig = s
		} else {
			return fmt.Errorf("unknown signal %q", args[0])
		}
		args = args[1:]
	}
	if len(args) == 0 {
		return usage(e, "kill [-SIGNAL] PID...")
	}
	var failed error
	for _, a := range args {
		var err error
		if strings.HasPrefix(a, "%") && e.jobs != nil {
			var j *job
			if j, err = e.jobs.get(a); err == nil {
				err = j.signal(sig)
			}
		} else {
			var pid int
			if pid, err = strconv.Atoi(a); err == nil {
				err = syscall.Kill(pid, sig)
			}
		}
		if err != nil {
			fmt.Fprintf(e.Stderr, "kill: %s: %v\n", a, err)
			failed = interp.ExitStatus(1)
		}
	}
	return failed
}

func ls(e *Env, args []string) error {
	fs := newFlags("ls")
	long := fs.Bool("l", false, "long listing")
	all := fs.Bool("a", false, "include names starting with .")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var failed error
	for i, p := range paths {
		fi, err := os.Lstat(e.abs(p))
		if err != nil {
			fmt.Fprintf(e.Stderr, "ls: %v\n", err)
			failed = interp.ExitStatus(1)
			continue
		}
		if !fi.IsDir() {
			lsEntry(e, *long, e.abs(p), p, fi)
			continue
		}
		if len(paths) > 1 {
			if i > 0 {
				fmt.Fprintln(e.Stdout)
			}
			fmt.Fprintf(e.Stdout, "%s:\n", p)
		}
		entries, err := os.ReadDir(e.abs(p))
		if err != nil {
			fmt.Fprintf(e.Stderr, "ls: %v\n", err)
			failed = interp.ExitStatus(1)
			continue
		}
		for _, de := range entries {
			if !*all && strings.HasPrefix(de.Name(), ".") {
				continue
			}
			info, err := de.Info()
			if err != nil {
				continue // removed meanwhile
			}
			lsEntry(e, *long, filepath.Join(e.abs(p), de.Name()), de.Name(), info)
		}
	}
	return failed
}

func lsEntry(e *Env, long bool, full, name string, fi fs.FileInfo) {
	if !long {
		fmt.Fprintln(e.Stdout, name)
		return
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if target, err := os.Readlink(full); err == nil {
			name += " -> " + target
		}
	}
	fmt.Fprintf(e.Stdout, "%s %10d %s %s\n", fi.Mode(), fi.Size(), fi.ModTime().Format("Jan _2 15:04"), name)
}

func mkdir(e *Env, args []string) error {
	fs := newFlags("mkdir")
	parents := fs.Bool("p", false, "make parents as needed, no error if existing")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usage(e, "mkdir [-p] DIR...")
	}
	for _, d := range fs.Args() {
		var err error
		if *parents {
			err = os.MkdirAll(e.abs(d), 0o755)
		} else {
			err = os.Mkdir(e.abs(d), 0o755)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func rm(e *Env, args []string) error {
	fs := newFlags("rm")
	recursive := fs.Bool("r", false, "remove directories and their contents")
	force := fs.Bool("f", false, "ignore missing files")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 && !*force {
		return usage(e, "rm [-rf] PATH...")
	}
	for _, p := range fs.Args() {
		var err error
		if *recursive {
			if _, err = os.Lstat(e.abs(p)); err == nil {
				err = os.RemoveAll(e.abs(p))
			}
		} else {
			err = os.Remove(e.abs(p))
		}
		if err != nil && !(*force && errors.Is(err, os.ErrNotExist)) {
			return err
		}
	}
	return nil
}

// mountFlags maps mount(8) options to flags; the rest go to the file system.
var mountFlags = map[string]uintptr{
	"ro": unix.MS_RDONLY, "nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV,
	"noexec": unix.MS_NOEXEC, "bind": unix.MS_BIND, "remount": unix.MS_REMOUNT,
	"relatime": unix.MS_RELATIME, "noatime": unix.MS_NOATIME,
}

func mount(e *Env, args []string) error {
	fs := newFlags("mount")
	fstype := fs.String("t", "", "file system type")
	opts := fs.String("o", "", "comma-separated options")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		b, err := os.ReadFile("/proc/mounts")
		if err != nil {
			return err
		}
		_, err = e.Stdout.Write(b)
		return err
	}
	if fs.NArg() != 2 {
		return usage(e, "mount [-t TYPE] [-o OPTS] SRC DIR")
	}
	var flags uintptr
	var data []string
	for _, o := range strings.Split(*opts, ",") {
		if o == "" || o == "rw" {
			continue
		}
		if f, ok := mountFlags[o]; ok {
			flags |= f
		} else {
			data = append(data, o)
		}
	}
	return unix.Mount(fs.Arg(0), e.abs(fs.Arg(1)), *fstype, flags, strings.Join(data, ","))
}

func umount(e *Env, args []string) error {
	if len(args) != 1 {
		return usage(e, "umount DIR")
	}
	return unix.Unmount(e.abs(args[0]), 0)
}

// powerCmd asks PID 1 to power off (SIGTERM) or reboot (SIGUSR1). It
// refuses outside an ainative system: on a host (`ainative up`) these
// signals would go to the host's init.
func powerCmd(sig syscall.Signal) func(e *Env, args []string) error {
	return func(e *Env, args []string) error {
		if e.Getenv("AINATIVE_PID1") != "1" {
			return errors.New("not running under ainative as PID 1 (in `ainative up`, leave the shell with exit)")
		}
		return syscall.Kill(1, sig)
	}
}

func ps(e *Env, args []string) error {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return err
	}
	type proc struct {
		pid, ppid int
		state     string
		rssKiB    uint64
		cmd       string
	}
	var procs []proc
	pageKiB := uint64(os.Getpagesize() / 1024)
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		s := string(stat)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		f := strings.Fields(s[close+1:])
		if len(f) < 22 {
			continue
		}
		p := proc{pid: pid, state: f[0], cmd: "[" + s[open+1:close] + "]"}
		p.ppid, _ = strconv.Atoi(f[1])
		rss, _ := strconv.ParseUint(f[21], 10, 64)
		p.rssKiB = rss * pageKiB
		if cl, err := os.ReadFile(d + "/cmdline"); err == nil && len(cl) > 0 {
			p.cmd = strings.TrimSpace(strings.ReplaceAll(string(cl), "\x00", " "))
		}
		procs = append(procs, p)
	}
	sort.Slice(procs, func(i, j int) bool { return procs[i].pid < procs[j].pid })
	w := tabwriter.NewWriter(e.Stdout, 0, 0, 1, ' ', 0)
	fmt.Fprintln(w, "PID\tPPID\tS\tRSS(KiB)\tCOMMAND")
	for _, p := range procs {
		fmt.Fprintf(w, "%d\t%d\t%s\t%d\t%s\n", p.pid, p.ppid, p.state, p.rssKiB, p.cmd)
	}
	return w.Flush()
}

func sleep(e *Env, args []string) error {
	if len(args) != 1 {
		return usage(e, "sleep SECONDS")
	}
	secs, err := strconv.ParseFloat(args[0], 64)
	if err != nil || secs < 0 {
		return fmt.Errorf("invalid time %q", args[0])
	}
	t := time.NewTimer(time.Duration(secs * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-e.Ctx.Done():
		return interp.ExitStatus(130)
	}
}

func uname(e *Env, args []string) error {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return err
	}
	str := func(b []byte) string { return string(bytes.TrimRight(b, "\x00")) }
	out := str(u.Sysname[:])
	switch strings.Join(args, " ") {
	case "", "-s":
	case "-a":
		out = strings.Join([]string{str(u.Sysname[:]), str(u.Nodename[:]), str(u.Release[:]), str(u.Version[:]), str(u.Machine[:])}, " ")
	case "-r":
		out = str(u.Release[:])
	case "-m":
		out = str(u.Machine[:])
	case "-n":
		out = str(u.Nodename[:])
	default:
		return usage(e, "uname [-a|-s|-r|-m|-n]")
	}
	fmt.Fprintln(e.Stdout, out)
	return nil
}

func uptime(e *Env, args []string) error {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return errors.New("/proc/uptime: empty")
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return fmt.Errorf("/proc/uptime: %w", err)
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if lf := strings.Fields(string(b)); len(lf) >= 3 {
			load = ", load average: " + strings.Join(lf[:3], " ")
		}
	}
	fmt.Fprintf(e.Stdout, "up %v%s\n", time.Duration(secs*float64(time.Second)).Round(time.Second), load)
	return nil
}

func syncCmd(e *Env, args []string) error {
	if len(args) != 0 {
		return usage(e, "sync")
	}
	unix.Sync()
	return nil
}

// df lists the file systems of /proc/mounts that have blocks (the
// kernel's pseudo file systems have none), or those holding PATHs.
func df(e *Env, args []string) error {
	fs := newFlags("df")
	human := fs.Bool("h", false, "sizes in K, M, G")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return err
	}
	type mnt struct{ src, dir string }
	var mounts []mnt
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) >= 2 {
			mounts = append(mounts, mnt{unescapeMount(f[0]), unescapeMount(f[1])})
		}
	}
	var show []mnt
	if fs.NArg() == 0 {
		show = mounts
	} else {
		for _, p := range fs.Args() {
			// The mount holding p is the last one whose directory is a
			// prefix of p's real path.
			real, err := filepath.EvalSymlinks(e.abs(p))
			if err != nil {
				return err
			}
			best := -1
			for i, m := range mounts {
				if real == m.dir || m.dir == "/" || strings.HasPrefix(real, m.dir+"/") {
					best = i
				}
			}
			if best < 0 {
				return fmt.Errorf("df: %s: no mount found", p)
			}
			show = append(show, mounts[best])
		}
	}
	size := func(n uint64) string {
		if !*human {
			return strconv.FormatUint(n>>10, 10)
		}
		for i, unit := range []string{"T", "G", "M", "K"} {
			if d := uint64(1) << (40 - 10*i); n >= d {
				return fmt.Sprintf("%.1f%s", float64(n)/float64(d), unit)
			}
		}
		return strconv.FormatUint(n, 10)
	}
	w := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	head := "1K-blocks"
	if *human {
		head = "Size"
	}
	fmt.Fprintf(w, "Filesystem\t%s\tUsed\tAvailable\tUse%%\tMounted on\n", head)
	for _, m := range show {
		var st unix.Statfs_t
		if err := unix.Statfs(m.dir, &st); err != nil || (st.Blocks == 0 && fs.NArg() == 0) {
			continue
		}
		bs := uint64(st.Bsize)
		total, free, avail := st.Blocks*bs, st.Bfree*bs, st.Bavail*bs
		used := total - free
		pct := "-"
		if used+avail > 0 {
			pct = fmt.Sprintf("%d%%", (used*100+used+avail-1)/(used+avail))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", m.src, size(total), size(used), size(avail), pct, m.dir)
	}
	return w.Flush()
}

// unescapeMount undoes /proc/mounts' octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
