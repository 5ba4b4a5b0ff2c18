package sample

import "strings"

// Stopper watches streamed text for stop strings. It holds back any tail
// that could be the beginning of a stop string, so that a stop string,
// even one split across tokens, is never shown.
type Stopper struct {
	stops   []string
	pending string
}

// NewStopper returns a Stopper for the given stop strings (empty ones
// are ignored).
func NewStopper(stops []string) *Stopper {
	s := &Stopper{}
	for _, st := range stops {
		if st != "" {
			s.stops = append(s.stops, st)
		}
	}
	return s
}

// Add takes the next piece of generated text and returns the text that
// can be shown now. When a stop string appears, stop is true and out is
// the text before it; the rest is dropped.
func (s *Stopper) Add(text string) (out string, stop bool) {
	buf := s.pending + text
	first := -1
	for _, st := range s.stops {
		if i := strings.Index(buf, st); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	if first >= 0 {
		s.pending = ""
		return buf[:first], true
	}
	hold := 0
	for _, st := range s.stops {
		for n := min(len(st)-1, len(buf)); n > hold; n-- {
			if strings.HasSuffix(buf, st[:n]) {
				hold = n
				break
			}
		}
	}
	s.pending = buf[len(buf)-hold:]
	return buf[:len(buf)-hold], false
}

// Flush returns the text held back, at the end of generation.
func (s *Stopper) Flush() string {
	out := s.pending
	s.pending = ""
	return out
}
