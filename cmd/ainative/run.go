package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/raym33/ainative/client"
	"github.com/raym33/ainative/internal/hw"
)

func init() {
	register(newRunCmd)
	register(newPsCmd)
}

func newRunCmd() *cobra.Command {
	var (
		system  string
		think   bool
		format  string
		noPull  bool
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "run MODEL [PROMPT]",
		Short: "Chat with a model through the runtime (pulls it first if missing)",
		Long: `Chat with a model served by the running runtime ('ainative serve', or
'ainative up'). With PROMPT (or text on standard input) it answers once and
exits; otherwise it opens an interactive chat: type a message and Enter;
""" starts and ends a multi-line message; /set parameter NAME VALUE
(temperature, top_k, top_p, min_p, num_ctx, num_predict, seed,
repeat_penalty), /set system TEXT, /clear forgets the conversation, /bye
leaves. Ctrl-C stops an answer; Ctrl-D leaves.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := client.FromEnvironment()
			if err != nil {
				return err
			}
			if err := c.Heartbeat(ctx); err != nil {
				return fmt.Errorf("cannot reach the runtime at %s: %w", c.Addr(), err)
			}
			name := args[0]
			if err := ensureModel(ctx, c, name, noPull, cmd.ErrOrStderr()); err != nil {
				return err
			}
			s := &chatSession{c: c, model: name, out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr(), verbose: verbose}
			if system != "" {
				s.msgs = append(s.msgs, client.Message{Role: "system", Content: system})
			}
			if cmd.Flags().Changed("think") {
				s.think = &think
			}
			if format != "" {
				if format == "json" {
					s.format = json.RawMessage(`"json"`)
				} else if json.Valid([]byte(format)) {
					s.format = json.RawMessage(format)
				} else {
					return fmt.Errorf("--format %q: want json or a JSON schema", format)
				}
			}
			prompt := ""
			if len(args) == 2 {
				prompt = args[1]
			}
			in := cmd.InOrStdin()
			f, isFile := in.(*os.File)
			stdinTTY := isFile && term.IsTerminal(int(f.Fd()))
			if !stdinTTY {
				b, err := io.ReadAll(io.LimitReader(in, 32<<20))
				if err != nil {
					return err
				}
				if in := strings.TrimSpace(string(b)); in != "" {
					prompt = strings.TrimSpace(prompt + "\n\n" + in)
				}
			}
			if prompt != "" || !stdinTTY {
				if prompt == "" {
					return errors.New("no prompt: give PROMPT or text on standard input")
				}
				return s.send(ctx, prompt)
			}
			return s.interactive(ctx, in)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&system, "system", "", "system prompt")
	fl.BoolVar(&think, "think", false, "ask a thinking model to reason first (shown dimmed)")
	fl.StringVar(&format, "format", "", "json, or a JSON schema the answer must follow")
	fl.BoolVar(&noPull, "no-pull", false, "fail instead of pulling a missing model")
	fl.BoolVar(&verbose, "stats", false, "print timings after each answer")
	return cmd
}

// ensureModel pulls name through the runtime when the store lacks it.
func ensureModel(ctx context.Context, c *client.Client, name string, noPull bool, errOut io.Writer) error {
	_, err := c.Show(ctx, name)
	var se *client.StatusError
	if err == nil || !errors.As(err, &se) || se.StatusCode != http.StatusNotFound {
		return err
	}
	if noPull {
		return fmt.Errorf("model %s is not in the store (ainative pull %s)", name, name)
	}
	fmt.Fprintf(errOut, "pulling %s\n", name)
	last := ""
	err = c.Pull(ctx, name, func(p client.PullProgress) error {
		line := p.Status
		if p.Total > 0 {
			line = fmt.Sprintf("%s %s/%s (%d%%)", p.Status, hw.FormatBytes(p.Completed), hw.FormatBytes(p.Total), p.Completed*100/p.Total)
		}
		if line != last {
			fmt.Fprintf(errOut, "\r\033[K%s", line)
			last = line
		}
		return nil
	})
	fmt.Fprintln(errOut)
	return err
}

type chatSession struct {
	c       *client.Client
	model   string
	msgs    []client.Message
	opts    client.Options
	think   *bool
	format  json.RawMessage
	out     io.Writer
	errOut  io.Writer
	verbose bool
}

// send sends one user message and streams the answer.
func (s *chatSession) send(ctx context.Context, text string) error {
	s.msgs = append(s.msgs, client.Message{Role: "user", Content: text})
	req := &client.ChatRequest{Model: s.model, Messages: s.msgs, Think: s.think, Format: s.format, Options: &s.opts}
	var answer strings.Builder
	var thinking bool
	var last client.ChatResponse
	err := s.c.Chat(ctx, req, func(r client.ChatResponse) error {
		if r.Message.Thinking != "" {
			if !thinking {
				fmt.Fprint(s.out, "\033[2m")
				thinking = true
			}
			fmt.Fprint(s.out, r.Message.Thinking)
		}
		if r.Message.Content != "" {
			if thinking {
				fmt.Fprint(s.out, "\033[0m\n")
				thinking = false
			}
			fmt.Fprint(s.out, r.Message.Content)
			answer.WriteString(r.Message.Content)
		}
		last = r
		return nil
	})
	if thinking {
		fmt.Fprint(s.out, "\033[0m")
	}
	fmt.Fprintln(s.out)
	if err != nil {
		s.msgs = s.msgs[:len(s.msgs)-1]
		return err
	}
	s.msgs = append(s.msgs, client.Message{Role: "assistant", Content: answer.String()})
	if s.verbose && last.Done {
		fmt.Fprintf(s.errOut, "prompt %d tokens in %v, answer %d tokens in %v (%.1f tok/s), stop: %s\n",
			last.PromptEvalCount, last.PromptEvalDuration.Round(time.Millisecond), last.EvalCount,
			last.EvalDuration.Round(time.Millisecond), float64(last.EvalCount)/max(last.EvalDuration.Seconds(), 1e-9), last.DoneReason)
	}
	return nil
}

func (s *chatSession) interactive(ctx context.Context, in io.Reader) error {
	fmt.Fprintf(s.errOut, "chatting with %s; /? for help, /bye or Ctrl-D to leave\n", s.model)
	rd := bufio.NewReader(in)
	// Ctrl-C cancels the answer in progress, not the session.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	for {
		fmt.Fprint(s.out, ">>> ")
		line, err := rd.ReadString('\n')
		if err == io.EOF && line == "" {
			fmt.Fprintln(s.out)
			return nil
		}
		if err != nil && err != io.EOF {
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, `"""`) {
			var b strings.Builder
			b.WriteString(strings.TrimPrefix(line, `"""`))
			for {
				fmt.Fprint(s.out, "... ")
				more, err := rd.ReadString('\n')
				more = strings.TrimRight(more, "\r\n")
				if i := strings.Index(more, `"""`); i >= 0 {
					b.WriteString("\n" + more[:i])
					break
				}
				b.WriteString("\n" + more)
				if err != nil {
					break
				}
			}
			line = strings.TrimSpace(b.String())
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.HasPrefix(line, "/") {
			if done := s.command(line); done {
				return nil
			}
			continue
		}
		actx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-sigs:
				cancel()
			case <-actx.Done():
			}
		}()
		err = s.send(actx, line)
		cancel()
		if err != nil {
			if errors.Is(err, context.Canceled) && ctx.Err() == nil {
				fmt.Fprintln(s.errOut, "(stopped)")
				continue
			}
			fmt.Fprintln(s.errOut, "error:", err)
		}
	}
}

// command runs a /command; it reports whether the session ends.
func (s *chatSession) command(line string) bool {
	f := strings.Fields(line)
	switch f[0] {
	case "/bye", "/exit", "/quit":
		return true
	case "/clear":
		var kept []client.Message
		for _, m := range s.msgs {
			if m.Role == "system" {
				kept = append(kept, m)
			}
		}
		s.msgs = kept
		fmt.Fprintln(s.errOut, "conversation cleared")
	case "/set":
		if len(f) >= 3 && f[1] == "system" {
			text := strings.TrimSpace(strings.SplitN(line, "system", 2)[1])
			var kept []client.Message
			for _, m := range s.msgs {
				if m.Role != "system" {
					kept = append(kept, m)
				}
			}
			s.msgs = append([]client.Message{{Role: "system", Content: text}}, kept...)
			fmt.Fprintln(s.errOut, "system prompt set")
			return false
		}
		if len(f) == 4 && f[1] == "parameter" {
			if err := setOption(&s.opts, f[2], f[3]); err != nil {
				fmt.Fprintln(s.errOut, "error:", err)
			} else {
				fmt.Fprintf(s.errOut, "set %s to %s\n", f[2], f[3])
			}
			return false
		}
		fmt.Fprintln(s.errOut, "usage: /set parameter NAME VALUE | /set system TEXT")
	case "/show":
		fmt.Fprintf(s.errOut, "model %s, %d messages\n", s.model, len(s.msgs))
	default:
		fmt.Fprintln(s.errOut, `commands: /set parameter NAME VALUE, /set system TEXT, /clear, /show, /bye; """ for multi-line input`)
	}
	return false
}

func setOption(o *client.Options, name, value string) error {
	f, err := strconv.ParseFloat(value, 64)
	if err != nil {
		return fmt.Errorf("%s: %q is not a number", name, value)
	}
	i := int(f)
	switch name {
	case "temperature":
		o.Temperature = &f
	case "top_p":
		o.TopP = &f
	case "min_p":
		o.MinP = &f
	case "repeat_penalty":
		o.RepeatPenalty = &f
	case "top_k":
		o.TopK = &i
	case "num_ctx":
		o.NumCtx = &i
	case "num_predict":
		o.NumPredict = &i
	case "seed":
		o.Seed = &i
	default:
		return fmt.Errorf("unknown parameter %q (temperature, top_k, top_p, min_p, num_ctx, num_predict, seed, repeat_penalty)", name)
	}
	return nil
}

func newPsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List the models the runtime has loaded",
		Args:  cobra.NoArgs,
		// In the image /bin/ps is the process list, not this.
		Annotations: map[string]string{noLinkAnnotation: "shadows ps"},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client.FromEnvironment()
			if err != nil {
				return err
			}
			models, err := c.Ps(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if models == nil {
					models = []client.RunningModel{}
				}
				return json.NewEncoder(cmd.OutOrStdout()).Encode(models)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tID\tSIZE\tCONTEXT\tUNTIL")
			for _, m := range models {
				id := m.Digest
				if len(id) > 12 {
					id = id[:12]
				}
				until := "forever"
				if d := time.Until(m.ExpiresAt); d < 24*time.Hour {
					until = d.Round(time.Second).String() + " from now"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", m.Name, id, hw.FormatBytes(m.Size), m.ContextLength, until)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
