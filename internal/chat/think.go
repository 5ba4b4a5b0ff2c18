package chat

import "strings"

const (
	thinkOpen  = "<think>"
	thinkClose = "</think>"
)

// PromptOpensThinking reports whether a rendered prompt ends inside an
// opened <think> section (DeepSeek R1 distills always, DeepSeek V3.1 with
// thinking on), so the model's output starts with reasoning and carries
// only the closing </think>.
func PromptOpensThinking(prompt string) bool {
	return strings.HasSuffix(strings.TrimRight(prompt, " \t\r\n"), thinkOpen)
}

// SplitThinking separates a complete answer into its <think> reasoning and
// the rest. startsInThinking is PromptOpensThinking of the prompt. An
// answer whose reasoning never closed is all thinking.
func SplitThinking(text string, startsInThinking bool) (thinking, content string) {
	if !startsInThinking {
		trimmed := strings.TrimLeft(text, " \t\r\n")
		if !strings.HasPrefix(trimmed, thinkOpen) {
			return "", text
		}
		text = trimmed[len(thinkOpen):]
	}
	thinking, content, found := strings.Cut(text, thinkClose)
	if !found {
		return strings.TrimSpace(text), ""
	}
	return strings.TrimSpace(thinking), strings.TrimLeft(content, " \t\r\n")
}
