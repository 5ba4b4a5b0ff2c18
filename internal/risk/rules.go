package risk

import (
	"strings"
)

// rule applies the per-command rules to a resolved command.
func (r *run) rule(res resolved, depth int) {
	n, args := res.name, res.args[1:]
	switch {
	case n == "rm" || n == "unlink":
		r.rm(args)
	case n == "find":
		r.find(args, depth)
	case n == "dd":
		r.dd(args)
	case strings.HasPrefix(n, "mkfs") || n == "mke2fs" || n == "mkswap" || n == "mkntfs" || n == "mkdosfs":
		r.add(High, n+" creates a filesystem, erasing what the device held")
	case n == "shred":
		r.add(High, "shred overwrites files so they cannot be recovered")
	case n == "blkdiscard":
		r.add(High, "blkdiscard discards every block of a device")
	case n == "wipefs":
		switch {
		case hasFlag(args, 'n', "--no-act"):
			r.add(Low, "wipefs dry run")
		case hasFlag(args, 'a', "--all") || hasFlag(args, 'o', "--offset"):
			r.add(High, "wipefs erases filesystem signatures")
		}
	case n == "sgdisk" && (hasFlag(args, 'Z', "--zap-all") || hasFlag(args, 'o', "--clear")):
		r.add(High, "sgdisk erases the partition table")
	case n == "fdisk" || n == "sfdisk" || n == "parted" || n == "gdisk" || n == "cfdisk":
		if !hasFlag(args, 'l', "--list") {
			r.add(Low, n+" edits a partition table")
		}
	case n == "chmod" || n == "chown" || n == "chgrp":
		r.perm(n, args)
	case n == "mv":
		r.mv(args)
	case n == "cp" || n == "install":
		r.cp(n, args)
	case n == "tee":
		r.tee(args)
	case n == "truncate":
		for _, a := range operands(args, "sr", "--size", "--reference") {
			r.writeTarget(a, true, "truncate")
		}
	case n == "git":
		r.git(args)
	case n == "kill":
		r.kill(args)
	case n == "pkill" || n == "killall":
		r.add(Low, n+" signals processes by name")
	case strings.HasPrefix(n, "iptables") || strings.HasPrefix(n, "ip6tables"):
		r.iptables(n, args)
	case n == "nft":
		if len(args) >= 2 && args[0].s == "flush" {
			r.add(High, "nft flush removes firewall rules")
		}
	case n == "crontab":
		if hasFlag(args, 'r', "--remove") {
			r.add(High, "crontab -r deletes the whole crontab without a copy")
		} else if len(operands(args, "u")) > 0 {
			r.add(Low, "crontab replaces the crontab from a file")
		}
	case n == "shutdown" || n == "reboot" || n == "halt" || n == "poweroff":
		r.add(Low, n+" stops the machine")
	case n == "init" || n == "telinit":
		if len(args) > 0 && (args[0].s == "0" || args[0].s == "6") {
			r.add(Low, n+" "+args[0].s+" stops the machine")
		}
	case n == "systemctl":
		for _, a := range args {
			switch a.s {
			case "poweroff", "reboot", "halt", "kexec":
				r.add(Low, "systemctl "+a.s+" stops the machine")
			}
		}
	case n == "userdel" || n == "deluser":
		r.add(Low, n+" deletes a user account")
	}
}

// operands returns the non-option args; withArg lists short options that
// take a value.
func operands(args []arg, withArg string, longWithArg ...string) []arg {
	var out []arg
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a.known && a.s == "--" {
			return append(out, args[i+1:]...)
		}
		if a.known && strings.HasPrefix(a.s, "-") && a.s != "-" {
			if strings.HasPrefix(a.s, "--") {
				for _, l := range longWithArg {
					if a.s == l {
						i++
					}
				}
				continue
			}
			if strings.IndexByte(withArg, a.s[len(a.s)-1]) >= 0 && len(a.s) == 2 {
				i++
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

func (r *run) rm(args []arg) {
	recursive := hasFlag(args, 'r', "--recursive") || hasFlag(args, 'R')
	if hasFlag(args, 0, "--no-preserve-root") {
		r.add(High, "rm --no-preserve-root allows deleting /")
	}
	targets := operands(args, "")
	if len(targets) == 0 {
		return
	}
	for _, t := range targets {
		if recursive {
			if why := bulkTarget(t); why != "" {
				r.add(High, "recursive deletion: "+why)
				continue
			}
		} else if why := fileTarget(t); why != "" {
			r.add(High, "it deletes "+why)
			continue
		} else if why := bulkTarget(t); why != "" && t.known && !strings.Contains(why, "outside") {
			// rm without -r cannot remove directories, but a glob over
			// a home or system directory still removes its files.
			if isGlob(t.s) {
				r.add(High, "it deletes files by a glob: "+why)
				continue
			}
		}
		if recursive {
			r.add(Low, "it deletes recursively")
		} else {
			r.add(Low, "it deletes files")
		}
	}
}

func (r *run) find(args []arg, depth int) {
	var starts []arg
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a.known && (strings.HasPrefix(a.s, "-") || a.s == "(" || a.s == "!") {
			break
		}
		starts = append(starts, a)
	}
	if len(starts) == 0 {
		starts = []arg{{s: ".", known: true}}
	}
	for ; i < len(args); i++ {
		a := args[i]
		if !a.known {
			continue
		}
		switch a.s {
		case "-delete":
			high := false
			for _, s := range starts {
				if why := bulkTarget(s); why != "" {
					r.add(High, "find -delete: "+why)
					high = true
				}
			}
			if !high {
				r.add(Low, "find deletes the files it matches")
			}
		case "-exec", "-execdir", "-ok", "-okdir":
			j := i + 1
			for j < len(args) && !(args[j].known && (args[j].s == ";" || args[j].s == "+")) {
				j++
			}
			cmd := args[i+1 : j]
			i = j
			if len(cmd) == 0 {
				continue
			}
			for _, s := range starts {
				sub := make([]arg, len(cmd))
				for k, c := range cmd {
					sub[k] = c
					if c.known && c.s == "{}" {
						sub[k] = s
					} else if c.known && strings.Contains(c.s, "{}") {
						sub[k] = unknownArg
					}
				}
				r.call(sub, depth+1)
			}
		}
	}
}

func (r *run) dd(args []arg) {
	for _, a := range args {
		if a.known && strings.HasPrefix(a.s, "of=") {
			t := arg{s: strings.TrimPrefix(a.s, "of="), known: true}
			if !r.writeTarget(t, true, "dd") && !harmlessDevices[t.s] {
				r.add(Low, "dd writes to "+t.s)
			}
		} else if !a.known {
			r.add(Low, "dd with an operand the classifier cannot know")
		}
	}
}

func (r *run) perm(n string, args []arg) {
	recursive := hasFlag(args, 'R', "--recursive")
	ops := operands(args, "")
	if len(ops) > 0 && !hasFlag(args, 0, "--reference") {
		ops = ops[1:] // the mode or owner
	}
	for _, t := range ops {
		if !recursive {
			if why := fileTarget(t); why != "" {
				r.add(Low, n+" changes "+why)
			}
			continue
		}
		if !t.known {
			r.add(Low, n+" -R on a value the classifier cannot know")
			continue
		}
		p, home, rel := cleanTarget(t.s)
		c := components(p)
		switch {
		case rel:
			r.add(Low, n+" -R changes a whole tree")
		case home && len(c) == 0:
			r.add(High, n+" -R on the home directory")
		case !home && (len(c) == 0 || len(c) == 1 && systemDirs[c[0]] || isGlob(p) && len(c) <= 1):
			r.add(High, n+" -R on "+t.s+" breaks the system's permissions")
		default:
			r.add(Low, n+" -R changes a whole tree")
		}
	}
}

func (r *run) mv(args []arg) {
	ops := operands(args, "tS", "--target-directory", "--suffix")
	r.add(Low, "mv moves or replaces files")
	if len(ops) < 2 {
		return
	}
	for _, s := range ops[:len(ops)-1] {
		if why := bulkTarget(s); why != "" && s.known {
			r.add(High, "it moves away: "+why)
		} else if why := fileTarget(s); why != "" {
			r.add(High, "it moves away "+why)
		}
	}
	r.writeTarget(ops[len(ops)-1], true, "mv")
}

func (r *run) cp(n string, args []arg) {
	ops := operands(args, "tSmog", "--target-directory", "--suffix", "--mode", "--owner", "--group")
	if len(ops) < 2 {
		return
	}
	r.writeTarget(ops[len(ops)-1], true, n)
}

func (r *run) tee(args []arg) {
	appendMode := hasFlag(args, 'a', "--append")
	for _, a := range operands(args, "") {
		r.writeTarget(a, !appendMode, "tee")
	}
}

// git judges the subcommands that lose work or rewrite shared history.
func (r *run) git(args []arg) {
	i := 0
	for i < len(args) && args[i].known && strings.HasPrefix(args[i].s, "-") {
		switch args[i].s {
		case "-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path", "--config-env":
			i++
		}
		i++
	}
	if i >= len(args) || !args[i].known {
		return
	}
	sub, rest := args[i].s, args[i+1:]
	switch sub {
	case "push":
		lease := hasFlag(rest, 0, "--force-with-lease", "--force-if-includes")
		force := hasFlag(rest, 'f', "--force")
		plus := false
		for _, a := range operands(rest, "o", "--repo", "--push-option", "--receive-pack", "--exec") {
			if a.known && strings.HasPrefix(a.s, "+") {
				plus = true
			}
		}
		switch {
		case force || (plus && !lease) || hasFlag(rest, 0, "--mirror"):
			r.add(High, "git push --force can overwrite others' commits on the remote (use --force-with-lease)")
		case lease:
			r.add(Low, "git push --force-with-lease rewrites the remote branch if nobody else pushed")
		default:
			r.add(Low, "git push publishes commits")
		}
	case "reset":
		if hasFlag(rest, 0, "--hard") {
			r.add(High, "git reset --hard discards uncommitted changes")
		}
	case "clean":
		if hasFlag(rest, 'n', "--dry-run") {
			return
		}
		force := hasFlag(rest, 'f', "--force")
		if force && (hasFlag(rest, 'd') || hasFlag(rest, 'x') || hasFlag(rest, 'X')) {
			r.add(High, "git clean deletes untracked files and directories, which no commit holds")
		} else if force {
			r.add(Low, "git clean deletes untracked files")
		}
	case "checkout", "restore":
		if hasFlag(rest, 'f', "--force") || hasArg(rest, "--") || (sub == "restore" && !hasFlag(rest, 'S', "--staged")) {
			r.add(Low, "git "+sub+" discards uncommitted changes")
		}
	case "branch":
		if hasFlag(rest, 'D') {
			r.add(Low, "git branch -D deletes a branch that may be unmerged")
		}
	case "stash":
		if len(rest) > 0 && (rest[0].s == "clear" || rest[0].s == "drop") {
			r.add(Low, "git stash "+rest[0].s+" deletes stashed changes")
		}
	case "filter-branch", "filter-repo":
		r.add(Low, "git "+sub+" rewrites history")
	}
}

func (r *run) kill(args []arg) {
	rest := args
	if len(rest) > 0 && rest[0].known {
		switch {
		case rest[0].s == "-s" || rest[0].s == "-n":
			if len(rest) > 1 {
				rest = rest[2:]
			} else {
				rest = nil
			}
		case rest[0].s == "-l" || rest[0].s == "-L":
			return
		case strings.HasPrefix(rest[0].s, "-") && rest[0].s != "--":
			rest = rest[1:] // the signal
		}
	}
	if len(rest) > 0 && rest[0].known && rest[0].s == "--" {
		rest = rest[1:]
	}
	r.add(Low, "kill signals processes")
	for _, a := range rest {
		if !a.known {
			continue
		}
		switch a.s {
		case "-1":
			r.add(High, "kill -1 signals every process the user may signal")
		case "1":
			r.add(High, "it signals init (PID 1)")
		}
	}
}

func (r *run) iptables(n string, args []arg) {
	for i, a := range args {
		if !a.known {
			continue
		}
		if a.s == "-F" || a.s == "--flush" || (strings.HasPrefix(a.s, "-") && !strings.HasPrefix(a.s, "--") && strings.HasSuffix(a.s, "F") && !strings.ContainsAny(a.s, "t")) {
			r.add(High, n+" -F removes firewall rules")
		}
		if (a.s == "-P" || a.s == "--policy") && i+2 < len(args) && args[i+2].s == "DROP" {
			r.add(High, n+" -P ... DROP can cut off the network, remote sessions included")
		}
	}
}

func hasArg(args []arg, s string) bool {
	for _, a := range args {
		if a.known && a.s == s {
			return true
		}
	}
	return false
}
