package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	busapi "github.com/raym33/ainative/client/bus"
)

// The interactive shell joins the AI bus when one runs: it publishes its
// working directory and its last failed command as private context items
// of its user (unless `ai off`, or `ai cwd off` for the directory), and it
// is its user's consent agent: a request to run a tool that needs consent
// is shown between prompts and answered y/N by the person. All bus work
// happens on a goroutine of its own: without a bus, or with a bus that
// hangs, the shell goes on as before and tries again at a later prompt.

const (
	cwdTTL        = 10 * time.Minute // a working directory is stale soon
	errorTTL      = time.Hour
	busDialWait   = 2 * time.Second // a bus that does not answer within this is retried later
	busRetryAfter = 5 * time.Second
	// consentQueue bounds the requests waiting for the prompt; the bus
	// sends at most busapi.MaxConcurrent at once on one connection.
	consentQueue = busapi.MaxConcurrent
	// consentMaxAge drops a request that waited longer (a command held
	// the terminal): the bus has given up on it by then (its default
	// consent timeout is two minutes).
	consentMaxAge = 2 * time.Minute
)

// consentAsk is a consent request waiting for the person.
type consentAsk struct {
	req    busapi.ConsentRequest
	since  time.Time
	answer chan bool // buffered: the shell never waits for the asker
}

// busAgent is the shell's side of the bus.
type busAgent struct {
	s      *Shell
	kick   chan struct{} // "state may have changed": cap 1
	asks   chan *consentAsk
	wake   [2]int // a pipe: a byte in it wakes the prompt (see interruptReader)
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex // guards what follows
	cwd      string     // to publish ("" with ai off or ai cwd off)
	failed   string     // last failed command, to publish
	failSeq  int
	client   *busapi.Client
	sentCwd  string
	sentAt   time.Time
	sentFail int
	lastTry  time.Time
}

// joinBus starts the shell's bus agent; stop ends it.
func (s *Shell) joinBus(ctx context.Context) (*busAgent, error) {
	var wake [2]int
	if err := unix.Pipe2(wake[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	a := &busAgent{s: s, kick: make(chan struct{}, 1),
		asks: make(chan *consentAsk, consentQueue), wake: wake, cancel: cancel, done: make(chan struct{})}
	go a.run(ctx)
	return a, nil
}

// stop disconnects and waits for the agent's goroutine.
func (a *busAgent) stop() {
	a.cancel()
	<-a.done
	unix.Close(a.wake[0])
	unix.Close(a.wake[1])
}

// update records the shell's state at a prompt and lets the agent
// publish it; it never waits for the bus.
func (a *busAgent) update() {
	s := a.s
	s.ai.mu.Lock()
	off, noCwd := s.ai.off, s.ai.noCwd
	var failed string
	if f := s.ai.failed; f != nil {
		failed = fmt.Sprintf("%s (exit status %d)", f.command, f.status)
	}
	s.ai.mu.Unlock()
	cwd := s.runner.Dir
	if off || noCwd {
		cwd = ""
	}
	if off {
		failed = ""
	}
	if failed != "" {
		failed = s.redactor().redact(failed)
	}
	a.mu.Lock()
	a.cwd = cwd
	if failed != a.failed {
		a.failed = failed
		a.failSeq++
	}
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

func (a *busAgent) run(ctx context.Context) {
	defer close(a.done)
	defer func() {
		a.mu.Lock()
		c := a.client
		a.client = nil
		a.mu.Unlock()
		if c != nil {
			c.Close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		}
		a.sync(ctx)
	}
}

// sync connects when there is no connection (at most every
// busRetryAfter) and publishes what changed.
func (a *busAgent) sync(ctx context.Context) {
	a.mu.Lock()
	c := a.client
	if c == nil && time.Since(a.lastTry) < busRetryAfter {
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	if c == nil {
		c = a.connect(ctx)
		if c == nil {
			return
		}
	}
	a.mu.Lock()
	cwd, failed, seq := a.cwd, a.failed, a.failSeq
	sendCwd := cwd != "" && (cwd != a.sentCwd || time.Since(a.sentAt) > cwdTTL/2)
	sendFail := seq != a.sentFail
	a.mu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, busDialWait)
	defer cancel()
	if sendCwd {
		if _, err := c.Publish(pctx, busapi.PublishParams{Kind: "cwd", Text: cwd, Sensitivity: busapi.Private,
			TTLSeconds: int64(cwdTTL / time.Second)}); err != nil {
			a.drop(c)
			return
		}
		a.mu.Lock()
		a.sentCwd, a.sentAt = cwd, time.Now()
		a.mu.Unlock()
	}
	if sendFail {
		if failed != "" {
			if _, err := c.Publish(pctx, busapi.PublishParams{Kind: "error", Text: failed, Sensitivity: busapi.Private,
				TTLSeconds: int64(errorTTL / time.Second)}); err != nil {
				a.drop(c)
				return
			}
		}
		a.mu.Lock()
		a.sentFail = seq
		a.mu.Unlock()
	}
}

// connect dials the bus and registers as the user's consent agent; a
// bus that refuses that (another executable than ainative) is still
// used for context.
func (a *busAgent) connect(ctx context.Context) *busapi.Client {
	a.mu.Lock()
	a.lastTry = time.Now()
	a.mu.Unlock()
	dctx, cancel := context.WithTimeout(ctx, busDialWait)
	defer cancel()
	c, err := busapi.FromEnvironment(dctx)
	if err != nil {
		return nil
	}
	if err := c.ServeConsent(dctx, a.consent); err != nil && dctx.Err() != nil {
		c.Close()
		return nil
	}
	a.mu.Lock()
	a.client, a.sentCwd, a.sentFail = c, "", 0
	a.mu.Unlock()
	go func() {
		c.Wait()
		a.drop(c)
	}()
	return c
}

// drop forgets c once it failed or closed; the next prompt reconnects.
func (a *busAgent) drop(c *busapi.Client) {
	a.mu.Lock()
	mine := a.client == c
	if mine {
		a.client = nil
		a.lastTry = time.Time{}
	}
	a.mu.Unlock()
	if mine {
		c.Close()
	}
}

// consent is the ConsentFunc: it queues the request for the prompt,
// wakes the prompt, and waits for the person's answer.
func (a *busAgent) consent(ctx context.Context, r busapi.ConsentRequest) (bool, error) {
	ask := &consentAsk{req: r, since: time.Now(), answer: make(chan bool, 1)}
	select {
	case a.asks <- ask:
	default:
		return false, errors.New("too many consent requests waiting in this shell")
	}
	unix.Write(a.wake[1], []byte{1}) // a full pipe has woken the prompt already
	select {
	case ok := <-ask.answer:
		return ok, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// answerConsent shows the waiting consent requests, one at a time, and
// reads y/N for each from the terminal. Anything but y or yes refuses,
// and so does ^C.
func (a *busAgent) answerConsent(t *term.Terminal, fd int, tty io.Writer, in *interruptReader) {
	for {
		var ask *consentAsk
		select {
		case ask = <-a.asks:
		default:
			return
		}
		if time.Since(ask.since) > consentMaxAge {
			fmt.Fprintf(tty, "ainative sh: a consent request for %s expired while the terminal was busy\n", ask.req.Tool)
			ask.answer <- false
			continue
		}
		fmt.Fprint(tty, busapi.FormatConsent(ask.req))
		t.SetPrompt("allow? [y/N] ")
		ok := false
		if old, err := term.MakeRaw(fd); err == nil {
			hist := t.History
			t.History = noHistory{} // an answer is not a command
			line, err := t.ReadLine()
			t.History = hist
			term.Restore(fd, old)
			intr := in.interrupted()
			line = strings.ToLower(strings.TrimSpace(line))
			ok = err == nil && !intr && (line == "y" || line == "yes")
		}
		if ok {
			fmt.Fprintln(tty, "approved")
		} else {
			fmt.Fprintln(tty, "refused")
		}
		ask.answer <- ok
	}
}

// pollWake blocks until fd has input (true) or the wake pipe wfd has a
// byte (false), which it drains.
func pollWake(fd, wfd int) (bool, error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(wfd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return true, err // let the read report it
		}
		if fds[1].Revents&unix.POLLIN != 0 {
			var buf [64]byte
			unix.Read(wfd, buf[:])
			return false, nil
		}
		return true, nil
	}
}

// keyPark is typed by the interruptReader when a consent request wakes
// the prompt: parkKey takes the line being edited away (to give it back
// after the request), then the Enter that follows returns from ReadLine.
const keyPark = 0x1d

// parkKey wraps the editor's key callback with keyPark.
func parkKey(in *interruptReader, next func(string, int, rune) (string, int, bool)) func(string, int, rune) (string, int, bool) {
	return func(line string, pos int, key rune) (string, int, bool) {
		if key == keyPark && in.woke {
			in.parked = line
			return "", 0, true
		}
		return next(line, pos, key)
	}
}

// wakeRead is interruptReader.Read's wait for input while armed: it
// reports whether a wake came first, and then hands the editor keyPark
// and Enter.
func (ir *interruptReader) wakeRead() bool {
	if !ir.armed || ir.wake < 0 {
		return false
	}
	ready, _ := pollWake(ir.fd, ir.wake)
	if ready {
		return false
	}
	ir.armed = false
	ir.woke = true
	ir.out = append(ir.out, keyPark, '\r')
	return true
}

// unpark reports whether the line just read was cut short by a wake; it
// then returns the line that was being edited.
func (ir *interruptReader) unpark() (string, bool) {
	if !ir.woke {
		return "", false
	}
	line := ir.parked
	ir.woke, ir.parked = false, ""
	return line, true
}

// noHistory keeps the answers to consent requests out of the history.
type noHistory struct{}

func (noHistory) Add(string)    {}
func (noHistory) Len() int      { return 0 }
func (noHistory) At(int) string { return "" }
