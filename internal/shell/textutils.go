package shell

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"

	"mvdan.cc/sh/v3/interp"
)

// The text filters of a minimal system: enough for pipelines such as
// `dmesg | grep virtio | head -3`, not a replacement for coreutils.

func init() {
	builtins["head"] = builtin{"head [-n N | -N] [FILE...]: print the first N lines (default 10)", head}
	builtins["tail"] = builtin{"tail [-n N | -N] [FILE...]: print the last N lines (default 10)", tail}
	builtins["wc"] = builtin{"wc [-l|-w|-c] [FILE...]: count lines, words and bytes", wc}
	builtins["grep"] = builtin{"grep [-i] [-v] [-c] [-n] PATTERN [FILE...]: print lines matching a regular expression (Go syntax)", grep}
}

// eachInput calls fn with every named file, or standard input when there
// are none (or for "-"), reporting unreadable files the way cat does.
func eachInput(e *Env, name string, files []string, fn func(label string, r io.Reader) error) error {
	if len(files) == 0 {
		files = []string{"-"}
	}
	var failed error
	for _, a := range files {
		if a == "-" {
			if err := fn("(standard input)", e.reader(e.Stdin)); err != nil {
				return err
			}
			continue
		}
		f, err := os.Open(e.abs(a))
		if err != nil {
			fmt.Fprintf(e.Stderr, "%s: %v\n", name, err)
			failed = interp.ExitStatus(2)
			continue
		}
		err = fn(a, e.reader(f))
		f.Close()
		if err != nil {
			return err
		}
	}
	return failed
}

// lines scans r line by line; long lines are allowed up to 1 MiB.
func lines(r io.Reader, fn func(line []byte) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if !fn(sc.Bytes()) {
			return nil
		}
	}
	return sc.Err()
}

// obsoleteCount rewrites the historical `head -3` / `tail -3` (a count
// as the first option), still in everyday use, into `-n 3`.
func obsoleteCount(args []string) []string {
	if len(args) == 0 || len(args[0]) < 2 || args[0][0] != '-' {
		return args
	}
	for _, c := range args[0][1:] {
		if c < '0' || c > '9' {
			return args
		}
	}
	return append([]string{"-n", args[0][1:]}, args[1:]...)
}

func head(e *Env, args []string) error {
	fs := newFlags("head")
	n := fs.Int("n", 10, "lines to print")
	if err := parse(e, fs, obsoleteCount(args)); err != nil {
		return err
	}
	return eachInput(e, "head", fs.Args(), func(_ string, r io.Reader) error {
		left := *n
		if left <= 0 {
			return nil
		}
		return lines(r, func(line []byte) bool {
			fmt.Fprintf(e.Stdout, "%s\n", line)
			left--
			return left > 0
		})
	})
}

func tail(e *Env, args []string) error {
	fs := newFlags("tail")
	n := fs.Int("n", 10, "lines to print")
	if err := parse(e, fs, obsoleteCount(args)); err != nil {
		return err
	}
	if *n < 0 {
		return usage(e, "tail [-n N | -N] [FILE...]")
	}
	return eachInput(e, "tail", fs.Args(), func(_ string, r io.Reader) error {
		// A ring of the last n lines, grown as lines arrive: memory
		// stays bounded by both n and the input, whatever n asks.
		var ring []string
		count := 0
		err := lines(r, func(line []byte) bool {
			switch {
			case *n == 0:
			case len(ring) < *n:
				ring = append(ring, string(line))
			default:
				ring[count%*n] = string(line)
			}
			count++
			return true
		})
		for i := max(0, count-*n); i < count; i++ {
			fmt.Fprintln(e.Stdout, ring[i%*n])
		}
		return err
	})
}

func wc(e *Env, args []string) error {
	fs := newFlags("wc")
	onlyLines := fs.Bool("l", false, "lines only")
	onlyWords := fs.Bool("w", false, "words only")
	onlyBytes := fs.Bool("c", false, "bytes only")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	return eachInput(e, "wc", fs.Args(), func(label string, r io.Reader) error {
		var nl, nw, nb int
		inWord := false
		br := bufio.NewReader(r)
		for {
			b, err := br.ReadByte()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			nb++
			space := b == ' ' || b == '\n' || b == '\t' || b == '\r' || b == '\v' || b == '\f'
			if b == '\n' {
				nl++
			}
			if !space && !inWord {
				nw++
			}
			inWord = !space
		}
		if len(fs.Args()) == 0 {
			label = ""
		}
		switch {
		case *onlyLines:
			fmt.Fprintf(e.Stdout, "%d %s\n", nl, label)
		case *onlyWords:
			fmt.Fprintf(e.Stdout, "%d %s\n", nw, label)
		case *onlyBytes:
			fmt.Fprintf(e.Stdout, "%d %s\n", nb, label)
		default:
			fmt.Fprintf(e.Stdout, "%7d %7d %7d %s\n", nl, nw, nb, label)
		}
		return nil
	})
}

func grep(e *Env, args []string) error {
	fs := newFlags("grep")
	ignoreCase := fs.Bool("i", false, "ignore case")
	invert := fs.Bool("v", false, "print the lines that do not match")
	countOnly := fs.Bool("c", false, "print the number of matching lines")
	numbers := fs.Bool("n", false, "prefix each line with its number")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usage(e, "grep [-i] [-v] [-c] [-n] PATTERN [FILE...]")
	}
	pattern := fs.Arg(0)
	if *ignoreCase {
		pattern = "(?i)" + pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		fmt.Fprintf(e.Stderr, "grep: %v\n", err)
		return interp.ExitStatus(2)
	}
	files := fs.Args()[1:]
	matched := false
	err = eachInput(e, "grep", files, func(label string, r io.Reader) error {
		prefix := ""
		if len(files) > 1 {
			prefix = label + ":"
		}
		count, lineNo := 0, 0
		err := lines(r, func(line []byte) bool {
			lineNo++
			if re.Match(line) == *invert {
				return true
			}
			count++
			if !*countOnly {
				if *numbers {
					fmt.Fprintf(e.Stdout, "%s%d:%s\n", prefix, lineNo, line)
				} else {
					fmt.Fprintf(e.Stdout, "%s%s\n", prefix, line)
				}
			}
			return true
		})
		if *countOnly {
			fmt.Fprintf(e.Stdout, "%s%d\n", prefix, count)
		}
		matched = matched || count > 0
		return err
	})
	if err != nil {
		return err
	}
	if !matched {
		return interp.ExitStatus(1) // grep's "no match", not an error
	}
	return nil
}
