package risk

import (
	"path"
	"regexp"
	"strings"
)

// systemDirs are top-level directories whose removal, or that of anything
// directly in them, breaks the system or loses data that is not the user's
// working tree.
var systemDirs = map[string]bool{
	"bin": true, "boot": true, "dev": true, "etc": true, "lib": true, "lib32": true,
	"lib64": true, "libx32": true, "opt": true, "proc": true, "run": true, "sbin": true,
	"srv": true, "sys": true, "usr": true, "var": true, "snap": true, "mnt": true,
	"media": true, "home": true, "root": true, "nix": true, "efi": true,
}

// protectedFileDirs hold system files: truncating or replacing any file
// below them is high risk.
var protectedFileDirs = []string{"/etc/", "/boot/", "/usr/", "/bin/", "/sbin/", "/lib/",
	"/lib64/", "/lib32/", "/var/lib/", "/root/.", "/proc/sysrq-trigger"}

// diskDevice matches block devices holding filesystems, whether or not they
// exist on this machine; globs over them count.
var diskDevice = regexp.MustCompile(`^/dev/(sd[a-z*?\[]|hd[a-z*?\[]|vd[a-z*?\[]|xvd[a-z*?\[]|nvme[0-9*?\[]|mmcblk[0-9*?\[]|disk/|mapper/|dm-[0-9*?\[]|md[0-9*?\[]|loop[0-9*?\[]|mem$|kmem$|port$)`)

// harmlessDevices are safe write targets.
var harmlessDevices = map[string]bool{"/dev/null": true, "/dev/stdout": true,
	"/dev/stderr": true, "/dev/tty": true, "/dev/zero": true, "/dev/full": true}

func isGlob(s string) bool { return strings.ContainsAny(s, "*?[{") }

// components splits a cleaned path after its root ("/" or "~"), cut after
// the first component holding a glob: deleting /usr/* is judged as
// deleting something directly in /usr.
func components(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c == "" {
			continue
		}
		out = append(out, c)
		if isGlob(c) {
			break
		}
	}
	return out
}

// cleanTarget normalizes a path; rel reports a path relative to the working
// directory, home one under the home directory (written with "~").
func cleanTarget(s string) (p string, home, rel bool) {
	switch {
	case s == "~" || strings.HasPrefix(s, "~/"):
		return path.Clean("/" + s[1:]), true, false
	case strings.HasPrefix(s, "/"):
		return path.Clean(s), false, false
	default:
		return path.Clean(s), false, true
	}
}

// bulkTarget judges the target of a recursive deletion, a recursive
// permission change's dangerous variants, or a move: it returns a reason
// when removing the target would be high risk.
func bulkTarget(a arg) string {
	if !a.known {
		return "its target is a value the classifier cannot know (a variable, a substitution or input)"
	}
	if a.s == "" {
		return ""
	}
	p, home, rel := cleanTarget(a.s)
	if rel {
		if p == ".." || strings.HasPrefix(p, "../..") || strings.Trim(p, "./") == "" && strings.Contains(p, "..") {
			return "its target " + a.s + " is outside the working tree"
		}
		return ""
	}
	c := components(p)
	if home {
		switch {
		case len(c) == 0:
			return "its target is the home directory"
		case len(c) == 1:
			return "its target " + a.s + " is directly in the home directory"
		}
		return ""
	}
	switch {
	case len(c) == 0:
		return "its target is the root directory /"
	case len(c) == 1:
		return "its target " + a.s + " is a top-level system or data directory"
	case c[0] == "home" && len(c) <= 3:
		return "its target " + a.s + " is a home directory or directly in one"
	case c[0] == "root" && len(c) <= 2:
		return "its target " + a.s + " is directly in root's home directory"
	case c[0] == "tmp" || (c[0] == "var" && c[1] == "tmp"):
		return ""
	case systemDirs[c[0]] && len(c) == 2:
		return "its target " + a.s + " is a system directory"
	}
	return ""
}

// fileTarget judges a single file's deletion or replacement; it returns a
// reason when the file is a system file or a dotfile of the home directory.
func fileTarget(a arg) string {
	if !a.known || a.s == "" {
		return ""
	}
	if r := deviceTarget(a); r != "" {
		return r
	}
	p, home, rel := cleanTarget(a.s)
	if rel {
		return ""
	}
	c := components(p)
	if home {
		if len(c) >= 1 && len(c) <= 3 && strings.HasPrefix(c[0], ".") {
			return a.s + ", a configuration file of the home directory"
		}
		return ""
	}
	if c0 := len(c); c0 >= 1 && c0 <= 3 && c[0] == "home" || c0 <= 3 && c0 >= 1 && c[0] == "root" {
		if (c[0] == "home" && c0 == 3 && strings.HasPrefix(c[2], ".")) || (c[0] == "root" && c0 >= 2 && strings.HasPrefix(c[1], ".")) {
			return a.s + ", a configuration file of a home directory"
		}
	}
	for _, d := range protectedFileDirs {
		if strings.HasPrefix(p, d) || p+"/" == d {
			return a.s + ", a system file"
		}
	}
	return ""
}

// deviceTarget returns a reason when the path is a disk device.
func deviceTarget(a arg) string {
	if !a.known {
		return ""
	}
	p := a.s
	if strings.HasPrefix(p, "/") {
		p = path.Clean(p)
	}
	if diskDevice.MatchString(p) {
		return "the disk device " + a.s
	}
	return ""
}

// writeTarget judges a write onto a file (redirection, tee, dd of=, cp
// destination). truncate is true when existing contents are replaced.
// It reports whether it found something.
func (r *run) writeTarget(a arg, truncate bool, what string) bool {
	if !a.known {
		return false
	}
	if d := deviceTarget(a); d != "" {
		r.add(High, what+" writes onto "+d)
		return true
	}
	if harmlessDevices[a.s] || strings.HasPrefix(a.s, "/dev/fd/") {
		return false
	}
	if f := fileTarget(a); f != "" {
		if truncate {
			r.add(High, what+" replaces "+f)
		} else {
			r.add(Low, what+" appends to "+f)
		}
		return true
	}
	return false
}
