package store

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/raym33/ainative/internal/store/hub"
)

// DefaultQuant is the quantization pulled when a hub name has no tag (or
// "latest") and the repository has it, as Ollama does.
const DefaultQuant = "Q4_K_M"

// candidate is one model a repository offers: a GGUF file, or the parts of
// a split GGUF in order.
type candidate struct {
	Quant string // upper case, e.g. Q4_K_M; "" when the file name says none
	Files []hub.File
	Size  int64
}

var (
	splitRE = regexp.MustCompile(`^(.*)-(\d{5})-of-(\d{5})\.gguf$`)
	quantRE = regexp.MustCompile(`(?i)(?:^|[-._])((?:I?Q[1-8](?:_[A-Z0-9]+)*)|BF16|F16|F32|FP16|MXFP4(?:_MOE)?|TQ[12]_0)(?:[-._]|$)`)
)

// SplitPart parses a split GGUF's file name, NAME-0000I-of-0000N.gguf,
// returning the name without the suffix, I and N.
func SplitPart(file string) (base string, i, n int, ok bool) {
	m := splitRE.FindStringSubmatch(file)
	if m == nil {
		return "", 0, 0, false
	}
	i, _ = strconv.Atoi(m[2])
	n, _ = strconv.Atoi(m[3])
	if i < 1 || n < 1 || i > n {
		return "", 0, 0, false
	}
	return m[1], i, n, true
}

// quantOf names the quantization a GGUF file name carries, e.g.
// "qwen2.5-0.5b-instruct-q4_k_m.gguf" -> Q4_K_M: the last match, since
// model names may carry digits of their own.
func quantOf(file string) string {
	stem := strings.TrimSuffix(path.Base(file), ".gguf")
	if base, _, _, ok := SplitPart(path.Base(file)); ok {
		stem = base
	}
	var q string
	for i := 0; i < len(stem); {
		loc := quantRE.FindStringSubmatchIndex(stem[i:])
		if loc == nil {
			break
		}
		q = stem[i+loc[2] : i+loc[3]]
		i += loc[3]
	}
	return strings.ToUpper(q)
}

// candidates groups a repository's GGUF files into models. Projector
// files (mmproj, for vision) are not models and are left out; a split
// model whose parts are not all listed is left out too.
func candidates(files []hub.File) []candidate {
	var out []candidate
	splits := map[string][]hub.File{}
	for _, f := range files {
		base := path.Base(f.Path)
		if !strings.HasSuffix(strings.ToLower(base), ".gguf") || strings.Contains(strings.ToLower(base), "mmproj") {
			continue
		}
		if b, _, _, ok := SplitPart(base); ok {
			key := path.Join(path.Dir(f.Path), b)
			splits[key] = append(splits[key], f)
			continue
		}
		out = append(out, candidate{Quant: quantOf(f.Path), Files: []hub.File{f}, Size: fileSize(f)})
	}
	for _, parts := range splits {
		sort.Slice(parts, func(i, j int) bool { return parts[i].Path < parts[j].Path })
		_, _, n, _ := SplitPart(path.Base(parts[0].Path))
		complete := len(parts) == n
		for k, p := range parts {
			if _, i, pn, _ := SplitPart(path.Base(p.Path)); i != k+1 || pn != n {
				complete = false
			}
		}
		if !complete {
			continue
		}
		c := candidate{Quant: quantOf(parts[0].Path), Files: parts}
		for _, p := range parts {
			c.Size += fileSize(p)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Files[0].Path < out[j].Files[0].Path })
	return out
}

func fileSize(f hub.File) int64 {
	if f.LFS != nil {
		return f.LFS.Size
	}
	return f.Size
}

// chooseQuant picks the model of repo to pull for tag: the quantization it
// names (case-insensitively, or a file name), or for "latest" DefaultQuant
// if offered, else the largest model of at most 8 bits per weight that
// fits in memory (memory <= 0: unknown), else the smallest.
func chooseQuant(repo, tag string, cs []candidate, memory int64) (candidate, error) {
	if len(cs) == 0 {
		return candidate{}, fmt.Errorf("hf.co/%s has no GGUF files", repo)
	}
	if tag != DefaultTag {
		for _, c := range cs {
			if strings.EqualFold(c.Quant, tag) || strings.EqualFold(path.Base(c.Files[0].Path), tag) {
				return c, nil
			}
		}
		return candidate{}, fmt.Errorf("hf.co/%s has no %s GGUF; it has %s", repo, tag, quantList(cs))
	}
	if len(cs) == 1 {
		return cs[0], nil
	}
	for _, c := range cs {
		if c.Quant == DefaultQuant {
			return c, nil
		}
	}
	best := -1
	for i, c := range cs {
		wide := c.Quant == "F32" || c.Quant == "F16" || c.Quant == "BF16" || c.Quant == "FP16"
		if wide || (memory > 0 && c.Size > memory) {
			continue
		}
		if best < 0 || c.Size > cs[best].Size {
			best = i
		}
	}
	if best >= 0 {
		return cs[best], nil
	}
	smallest := 0
	for i, c := range cs {
		if c.Size < cs[smallest].Size {
			smallest = i
		}
	}
	return cs[smallest], nil
}

func quantList(cs []candidate) string {
	var qs []string
	for _, c := range cs {
		q := c.Quant
		if q == "" {
			q = path.Base(c.Files[0].Path)
		}
		qs = append(qs, q)
	}
	return strings.Join(qs, ", ")
}
