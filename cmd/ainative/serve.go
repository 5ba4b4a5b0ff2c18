package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/client"
	"github.com/raym33/ainative/internal/api"
	"github.com/raym33/ainative/internal/console"
	"github.com/raym33/ainative/internal/runtime"
	"github.com/raym33/ainative/internal/unixsock"
)

func init() { register(newServeCmd) }

// serveFlags configure the runtime daemon.
type serveFlags struct {
	listen    string
	socket    string
	parallel  int
	maxQueue  int
	ctx       int
	keepAlive time.Duration
	threads   int
	memory    int64
	origins   []string
	hosts     []string
	noTCP     bool
	modelsDir string
	backends  string
	repack    bool
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the AI runtime daemon (Ollama- and OpenAI-compatible APIs)",
		Long: `Run the AI runtime: one daemon that loads models from the store on
demand, shares them between every client and decodes concurrent requests
together. It serves Ollama's API (/api/...), OpenAI's (/v1/...) and
llama-server's /tokenize, /detokenize and /apply-template on a Unix socket
(--socket) and on TCP --listen (loopback by default: 127.0.0.1:11434,
Ollama's port, so tools that expect Ollama find it unchanged).

Environment: AINATIVE_HOME (the model store), AINATIVE_ORIGINS and
AINATIVE_HOSTS (comma-separated, as the flags), AINATIVE_NUM_PARALLEL,
AINATIVE_MAX_QUEUE, AINATIVE_KEEP_ALIVE, AINATIVE_REPACK (true or 1 for --repack).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, f, nil)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", envOr("AINATIVE_LISTEN", client.DefaultTCP), "TCP address to serve on (a non-loopback address exposes the API to the network)")
	fl.BoolVar(&f.noTCP, "no-tcp", false, "serve on the Unix socket only")
	fl.StringVar(&f.socket, "socket", client.SocketPath(), "Unix socket to serve on")
	fl.IntVar(&f.parallel, "parallel", envInt("AINATIVE_NUM_PARALLEL", 8), "sequences a loaded model decodes at once")
	fl.IntVar(&f.maxQueue, "max-queue", envInt("AINATIVE_MAX_QUEUE", 64), "requests that may wait for a slot; more get 503")
	fl.IntVar(&f.ctx, "ctx", 4096, "default context length of a sequence (requests may ask for less with num_ctx)")
	fl.DurationVar(&f.keepAlive, "keep-alive", envDuration("AINATIVE_KEEP_ALIVE", 5*time.Minute), "how long an idle model stays loaded (negative: forever)")
	fl.IntVarP(&f.threads, "threads", "t", 0, "threads per forward pass (default: physical cores)")
	fl.Int64Var(&f.memory, "memory", 0, "memory budget for loaded models in bytes (default: 90% of available memory)")
	fl.BoolVar(&f.repack, "repack", envBool("AINATIVE_REPACK"), "keep an interleaved copy of Q8_0/Q4_0/Q5_0/IQ4_NL weights: faster prompts and parallel decode, about the weights' memory again")
	fl.StringSliceVar(&f.origins, "origins", envList("AINATIVE_ORIGINS"), "extra browser origins allowed cross-origin requests (loopback origins always are)")
	fl.StringVar(&f.backends, "backends", "", "JSON file of remote OpenAI-compatible backends and the model names each serves (off by default)")
	fl.StringVar(&f.modelsDir, "models-dir", "", "also serve DIR/NAME.gguf as model NAME (the image's baked-in models)")
	fl.StringSliceVar(&f.hosts, "hosts", envList("AINATIVE_HOSTS"), "extra Host header values accepted (loopback names always are)")
	return cmd
}

func (f *serveFlags) validate() error {
	switch {
	case f.parallel < 1 || f.parallel > 64:
		return fmt.Errorf("--parallel %d: must be in [1, 64]", f.parallel)
	case f.maxQueue < 1:
		return fmt.Errorf("--max-queue %d: must be at least 1", f.maxQueue)
	case f.ctx < 16:
		return fmt.Errorf("--ctx %d: must be at least 16", f.ctx)
	case f.threads < 0:
		return fmt.Errorf("--threads %d: must be 0 (automatic) or more", f.threads)
	case f.memory < 0:
		return fmt.Errorf("--memory %d: must be 0 (automatic) or more", f.memory)
	case f.keepAlive == 0:
		return fmt.Errorf("--keep-alive 0 would unload every model after each request; give a duration or a negative value for forever")
	}
	return nil
}

// serve runs the daemon until ctx ends. ready, if set, is called with the
// addresses once it listens (tests).
func serve(ctx context.Context, f serveFlags, ready func(tcp net.Addr, socket string)) error {
	if err := f.validate(); err != nil {
		return err
	}
	st, err := openStore()
	if err != nil {
		return err
	}
	var backends *api.BackendsConfig
	if f.backends != "" {
		if backends, err = api.LoadBackends(f.backends); err != nil {
			return fmt.Errorf("--backends: %w", err)
		}
	}
	rt, err := runtime.New(runtime.Config{
		Source: api.Sources{api.StoreSource{Store: st}, api.DirSource{Dir: f.modelsDir}}, Threads: f.threads, NumParallel: f.parallel, MaxQueue: f.maxQueue,
		NumCtx: f.ctx, KeepAlive: f.keepAlive, MemoryBudget: f.memory, Repack: f.repack, Logger: slog.Default(),
	})
	if err != nil {
		return err
	}
	defer rt.Close()
	// Over TCP the caller is unknown: it may change the store only when the
	// daemon runs as an ordinary user, whose own store it is.
	srv := api.New(api.Config{Runtime: rt, Models: st, ModelsDir: f.modelsDir, Backends: backends, Origins: f.origins, Hosts: f.hosts,
		AdminOverTCP: os.Getuid() != 0, Logger: slog.Default(),
		Console: console.New(console.Config{Token: os.Getenv("AINATIVE_CONSOLE_TOKEN")})})

	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	var tcpAddr net.Addr
	if !f.noTCP {
		l, err := net.Listen("tcp", f.listen)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("--listen %s: the address is in use (is Ollama or another ainative serve running? choose another with --listen, or --no-tcp)", f.listen)
			}
			return fmt.Errorf("--listen %s: %w", f.listen, err)
		}
		listeners = append(listeners, l)
		tcpAddr = l.Addr()
		if ip := l.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			slog.Warn("serving the API beyond this machine: anyone who reaches this address can use the models", "listen", l.Addr())
		}
	}
	sock := ""
	if f.socket != "" {
		l, err := unixsock.Listen(f.socket, 0o666)
		if err != nil {
			if tcpAddr == nil {
				return fmt.Errorf("--socket: %w", err)
			}
			slog.Warn("not serving on the Unix socket", "err", err)
		} else {
			listeners = append(listeners, l)
			sock = f.socket
		}
	}
	if len(listeners) == 0 {
		return errors.New("nothing to listen on (--no-tcp and no --socket)")
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ConnContext:       api.ConnContext,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug),
	}
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() { errc <- hs.Serve(l) }()
	}
	attrs := []any{"version", api.Version}
	if tcpAddr != nil {
		attrs = append(attrs, "tcp", tcpAddr.String())
	}
	if sock != "" {
		attrs = append(attrs, "socket", sock)
	}
	attrs = append(attrs, "store", st.Dir(), "parallel", f.parallel, "queue", f.maxQueue)
	slog.Info("ainative runtime listening", attrs...)
	if ready != nil {
		ready(tcpAddr, sock)
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	slog.Info("runtime shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Streams end when the runtime closes; Shutdown waits for handlers.
	go func() {
		<-sctx.Done()
		rt.Close()
	}()
	rtClosed := make(chan struct{})
	go func() {
		// Give in-flight requests the shutdown window, then cancel them.
		select {
		case <-time.After(5 * time.Second):
			rt.Close()
		case <-rtClosed:
		}
	}()
	err = hs.Shutdown(sctx)
	close(rtClosed)
	return err
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(k string, def int) int {
	var v int
	if s := os.Getenv(k); s != "" {
		if _, err := fmt.Sscanf(s, "%d", &v); err == nil {
			return v
		}
		slog.Warn("ignoring a malformed environment variable", "name", k, "value", s)
	}
	return def
}

// envBool reads a boolean environment variable (strconv.ParseBool's
// spellings); unset or malformed is false, the latter with a warning.
func envBool(k string) bool {
	if s := os.Getenv(k); s != "" {
		if b, err := strconv.ParseBool(s); err == nil {
			return b
		}
		slog.Warn("ignoring a malformed environment variable", "name", k, "value", s)
	}
	return false
}

func envDuration(k string, def time.Duration) time.Duration {
	if s := os.Getenv(k); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			return d
		}
		slog.Warn("ignoring a malformed environment variable", "name", k, "value", s)
	}
	return def
}

func envList(k string) []string {
	var out []string
	for _, s := range strings.Split(os.Getenv(k), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
