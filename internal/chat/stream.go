package chat

import "strings"

// Delta is what a Stream lets out after a piece of model output.
type Delta struct {
	Thinking string
	Content  string
}

type streamState int

const (
	stateThinkWait streamState = iota // before deciding whether output opens <think>
	stateThinking
	stateContentStart // content, nothing but whitespace seen yet
	stateContent
	stateToolCall // a call started: everything is held until Finish
)

// Stream splits streamed model output, as it arrives, into thinking and
// content, and holds back any text that may begin a tool call, so that a
// call is never streamed out as content; Finish parses the held calls.
// A Stream is used by one goroutine.
type Stream struct {
	format  ToolFormat
	state   streamState
	pending string          // text not yet let out (a possible marker prefix)
	held    strings.Builder // the tool-call text
	markers []string
	// trimLead drops the whitespace that follows </think>, as SplitThinking does.
	trimLead bool
	// space is how much of pending is known to be leading whitespace, so
	// that waiting on whitespace does not rescan it for every piece.
	space int
}

// maxLeadingSpace bounds the whitespace held while deciding whether the
// output opens with <think> or a call: an output that opens with more is
// treated as plain content.
const maxLeadingSpace = 4096

// trimmedPending is pending without its leading whitespace.
func (s *Stream) trimmedPending() string {
	for s.space < len(s.pending) && strings.IndexByte(" \t\r\n", s.pending[s.space]) >= 0 {
		s.space++
	}
	return s.pending[s.space:]
}

// setPending replaces the pending text.
func (s *Stream) setPending(p string) {
	s.pending = p
	s.space = 0
}

// NewStream starts a stream. parseThinking enables <think> splitting (the
// template's Capabilities().Thinking); startsInThinking is
// PromptOpensThinking of the prompt.
func NewStream(f ToolFormat, parseThinking, startsInThinking bool) *Stream {
	s := &Stream{format: f, state: stateContentStart}
	switch {
	case startsInThinking:
		s.state = stateThinking
	case parseThinking:
		s.state = stateThinkWait
	}
	switch f {
	case ToolsHermes:
		s.markers = []string{hermesOpen}
	case ToolsPhi4:
		s.markers = []string{phi4Open}
	case ToolsMistral:
		s.markers = []string{mistralCalls}
	case ToolsDeepSeek:
		s.markers = []string{dsCallsBegin, dsCallBegin}
	}
	return s
}

// Push takes the next piece of output and returns what can be let out now.
func (s *Stream) Push(text string) Delta {
	var d Delta
	s.pending += text
	for {
		before := s.state
		switch s.state {
		case stateThinkWait:
			trimmed := s.trimmedPending()
			switch {
			case strings.HasPrefix(trimmed, thinkOpen):
				s.setPending(trimmed[len(thinkOpen):])
				s.state = stateThinking
			case strings.HasPrefix(thinkOpen, trimmed) && s.space <= maxLeadingSpace:
				return d // "", or a prefix of <think>: wait
			default:
				s.state = stateContentStart
			}
		case stateThinking:
			if i := strings.Index(s.pending, thinkClose); i >= 0 {
				d.Thinking += s.pending[:i]
				s.setPending(s.pending[i+len(thinkClose):])
				s.trimLead = true
				s.state = stateContentStart
				break
			}
			keep := heldSuffix(s.pending, []string{thinkClose})
			d.Thinking += s.pending[:len(s.pending)-keep]
			s.setPending(s.pending[len(s.pending)-keep:])
			return d
		case stateContentStart:
			trimmed := s.trimmedPending()
			if s.trimLead {
				s.setPending(trimmed)
			}
			if trimmed == "" && s.space <= maxLeadingSpace {
				return d
			}
			if s.bareCallStart(trimmed) {
				s.held.WriteString(s.pending)
				s.setPending("")
				s.state = stateToolCall
				return d
			}
			if s.maybeBareCallStart(trimmed) && s.space <= maxLeadingSpace {
				return d // may still become a call opener: wait
			}
			s.state = stateContent
		case stateContent:
			if i := firstMarker(s.pending, s.markers); i >= 0 {
				d.Content += s.pending[:i]
				s.held.WriteString(s.pending[i:])
				s.setPending("")
				s.state = stateToolCall
				return d
			}
			keep := heldSuffix(s.pending, s.markers)
			d.Content += s.pending[:len(s.pending)-keep]
			s.setPending(s.pending[len(s.pending)-keep:])
			return d
		case stateToolCall:
			s.held.WriteString(s.pending)
			s.setPending("")
			return d
		}
		if s.state == before && s.pending == "" {
			return d
		}
	}
}

// bareCallStart: formats without markers have a call only as the whole
// answer, so an answer opening with JSON (or a fence, or Llama's python
// tag) is held until it can be parsed.
func (s *Stream) bareCallStart(trimmed string) bool {
	if trimmed == "" {
		return false
	}
	switch s.format {
	case ToolsLlama3:
		return trimmed[0] == '{' || strings.HasPrefix(trimmed, llamaPythonTag)
	case ToolsJSON:
		return trimmed[0] == '{' || trimmed[0] == '[' || strings.HasPrefix(trimmed, "```")
	}
	return false
}

// maybeBareCallStart: trimmed is a proper prefix of a bare-format opener.
func (s *Stream) maybeBareCallStart(trimmed string) bool {
	switch s.format {
	case ToolsLlama3:
		return strings.HasPrefix(llamaPythonTag, trimmed)
	case ToolsJSON:
		return strings.HasPrefix("```", trimmed)
	}
	return false
}

// Finish ends the stream: the rest of the output, and the tool calls it
// held. When held text does not parse as calls it comes back as content,
// with the parse error.
func (s *Stream) Finish() (Delta, []ParsedCall, error) {
	var d Delta
	switch s.state {
	case stateThinking:
		d.Thinking = s.pending
	case stateToolCall:
		s.held.WriteString(s.pending)
		content, calls, err := ParseToolCalls(s.format, s.held.String())
		d.Content = content
		s.pending = ""
		return d, calls, err
	default:
		d.Content = s.pending
	}
	s.pending = ""
	return d, nil, nil
}

// firstMarker is the index of the earliest marker in s, or -1.
func firstMarker(s string, markers []string) int {
	first := -1
	for _, m := range markers {
		if i := strings.Index(s, m); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	return first
}

// heldSuffix is the length of the longest end of s that is a proper prefix
// of a marker: text that must wait for the next piece to be classified.
func heldSuffix(s string, markers []string) int {
	best := 0
	for _, m := range markers {
		for k := min(len(m)-1, len(s)); k > best; k-- {
			if strings.HasSuffix(s, m[:k]) {
				best = k
				break
			}
		}
	}
	return best
}
