// Package initsys is ainative's init system: PID 1 of the image and the
// service manager of `ainative up`.
//
// As PID 1 it mounts the kernel file systems, sets the host name, loads
// the kernel modules the image lists, brings up loopback and DHCP, reaps
// orphans, and supervises the services of /etc/ainative/services.json
// (console shells today; the AI runtime daemon and the bus as they are
// built). It serves a read-only status page and JSON on port 8080 and on
// a Unix socket (read by `ainative logs`); over TCP, addresses other than
// loopback and `ainative vm`'s forward need the token PID 1 prints on the
// console (see StatusAccess). On SIGTERM, SIGINT (also
// Ctrl-Alt-Del) or the power button it stops the services in reverse
// order, syncs and powers off. It never exits and never panics: a failing
// service is restarted with back-off, and a panic in PID 1's goroutines
// (the supervisor's included) is logged and survived.
//
// On a host (`ainative up`) the same supervisor and status server run as
// an ordinary process, without the mounts, the network or power-off.
//
// One file per concern, after gokrazy: mount.go, network.go,
// supervise.go, reap.go, status.go, power.go, powerbutton.go.
package initsys

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/raym33/ainative/client"
	busapi "github.com/raym33/ainative/client/bus"
	"github.com/raym33/ainative/internal/atomicfile"
	"github.com/raym33/ainative/internal/kmod"
)

// Paths of the files the image builder writes for PID 1.
const (
	ConfigPath  = "/etc/ainative/services.json" // the service configuration
	ModulesPath = "/etc/ainative/modules"       // kernel modules to load, one name a line
	CommandPath = "/etc/ainative/command"       // `vm -c`: run this instead of the consoles
	// CommandStatusPrefix starts the console line on which PID 1 reports
	// the status of the command of CommandPath.
	CommandStatusPrefix = "ainative-command-status: "
	// Serial ports of the command's standard output and error in
	// command mode (the console is ttyS0).
	CommandStdout = "/dev/ttyS1"
	CommandStderr = "/dev/ttyS2"
)

// ImageConfig is the default service configuration of the image.
func ImageConfig() *Config {
	console := func(tty string) Service {
		return Service{
			Name:    "console-" + filepath.Base(tty),
			Command: []string{"ainative", "sh", "--login"},
			TTY:     tty,
			Restart: RestartAlways,
			Backoff: Backoff{Initial: Duration(time.Second), Max: Duration(5 * time.Second)},
		}
	}
	// Consoles whose terminal is missing (ttyAMA0 on a PC, tty1 without
	// a VT) are skipped at boot.
	return &Config{Services: []Service{
		console("/dev/ttyS0"),
		console("/dev/ttyAMA0"), // arm64 virt and many boards
		console("/dev/tty1"),
		runtimeService("ainative", "--models-dir", ModelsDir),
		busService("ainative"),
	}}
}

// busService is the AI bus (`ainative bus`), started after the runtime,
// which its ai.chat forwards to.
func busService(self string) Service {
	return Service{
		Name:        "bus",
		Command:     []string{self, "bus"},
		After:       []string{"runtime"},
		Restart:     RestartAlways,
		Backoff:     Backoff{Initial: Duration(time.Second), Max: Duration(30 * time.Second)},
		StopTimeout: Duration(10 * time.Second),
	}
}

// runtimeService is the AI runtime daemon: `ainative serve`, restarted
// if it fails. self is the ainative binary.
func runtimeService(self string, args ...string) Service {
	return Service{
		Name:        "runtime",
		Command:     append([]string{self, "serve"}, args...),
		Restart:     RestartAlways,
		Backoff:     Backoff{Initial: Duration(time.Second), Max: Duration(30 * time.Second)},
		StopTimeout: Duration(15 * time.Second),
	}
}

// HostConfig is the default service configuration of `ainative up`: the
// same services as the image minus the consoles (the shell runs in the
// foreground instead). self is the path of the ainative binary, which
// need not be in $PATH on a host.
func HostConfig(self string) *Config {
	return &Config{Services: []Service{runtimeService(self), busService(self)}}
}

// System is a running ainative system: the supervisor and what PID 1
// adds around it.
type System struct {
	log     *slog.Logger
	initLog *LogBuffer
	sup     *Supervisor
	net     *Network
	pid1    bool
	servers []*http.Server
	token   string // the status page's token for other machines

	statusURL string // where the TCP status page listens; "" if it does not
	statusErr error  // why it does not
	socket    *ownSocket
	updates   *updateHandler // shared by the TCP and socket servers

	bootTimes BootTimes // PID 1's boot stages (boottimes.go)
}

// SocketEnv names the environment variable that tells `ainative logs`
// where the status socket is; `ainative up` sets it for its shell.
const SocketEnv = "AINATIVE_SOCKET"

// DefaultSocketPath is where the status server listens for `ainative
// logs`: $AINATIVE_SOCKET if set, /run/ainative/init.sock for root (and
// PID 1), otherwise under $XDG_RUNTIME_DIR or the temporary directory.
func DefaultSocketPath() string {
	if p := os.Getenv(SocketEnv); p != "" {
		return p
	}
	if os.Geteuid() == 0 {
		return "/run/ainative/init.sock"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "ainative", "init.sock")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("ainative-%d", os.Getuid()), "init.sock")
}

// HostOptions configures StartHost.
type HostOptions struct {
	Config     *Config // nil: HostConfig()
	StatusAddr string  // TCP address of the status page; empty: none
	Socket     string  // Unix socket for `ainative logs`; empty: none
	LogTo      io.Writer
}

// TokenPath is where PID 1 keeps the status page's token (root only).
const TokenPath = "/run/ainative/status-token"

// StartHost starts the services on an existing Linux system (`ainative
// up`). Stop with Shutdown.
func StartHost(ctx context.Context, opts HostOptions) (*System, error) {
	cfg := opts.Config
	if cfg == nil {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cfg = HostConfig(self)
	}
	sys := newSystem(false, opts.LogTo)
	sup, err := NewSupervisor(cfg, Options{Logger: sys.log})
	if err != nil {
		return nil, err
	}
	sys.sup = sup
	sys.token = NewStatusToken()
	access := StatusAccess{Token: sys.token, Public: cfg.Status.Public}
	if err := sys.serve(opts.StatusAddr, opts.Socket, access); err != nil {
		return nil, err
	}
	if err := sup.Start(ctx); err != nil {
		sys.closeServers()
		return nil, err
	}
	sys.log.Info("services started", "count", len(cfg.Services))
	return sys, nil
}

// StatusURL returns the URL of the TCP status page, or "" and the reason
// it is not served (the port is busy, or no address was asked for).
func (sys *System) StatusURL() (string, error) { return sys.statusURL, sys.statusErr }

// StatusToken returns the token that admits other machines to the
// status page (see StatusAccess).
func (sys *System) StatusToken() string { return sys.token }

// Supervisor returns the system's supervisor.
func (sys *System) Supervisor() *Supervisor { return sys.sup }

// Shutdown stops the services in reverse order and the status server.
func (sys *System) Shutdown(ctx context.Context) error {
	err := sys.sup.Stop(ctx)
	sys.closeServers()
	return err
}

func newSystem(pid1 bool, logTo io.Writer) *System {
	sys := &System{initLog: NewLogBuffer(DefaultLogLines, DefaultLogBytes), pid1: pid1}
	w := io.Writer(sys.initLog)
	if logTo != nil {
		w = io.MultiWriter(logTo, sys.initLog)
	}
	sys.log = slog.New(slog.NewTextHandler(w, logOptions))
	return sys
}

// logOptions print the time of day to the millisecond, as a console
// log wants.
var logOptions = &slog.HandlerOptions{
	ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			return slog.String("time", a.Value.Time().Format("15:04:05.000"))
		}
		return a
	},
}

// serve starts the status server on a TCP address, guarded by access,
// and on a Unix socket. A busy TCP port is recorded (StatusURL), not an
// error: the page is a convenience and must not stop the system.
func (sys *System) serve(addr, socket string, access StatusAccess) (err error) {
	var tcp net.Listener
	if addr != "" {
		if tcp, err = net.Listen("tcp", addr); err != nil {
			sys.statusErr = err
			sys.log.Warn("status page not served", "addr", addr, "err", err)
		} else {
			sys.statusURL = "http://" + tcp.Addr().String() + "/"
			sys.log.Info("status page", "url", sys.statusURL)
		}
	}
	if socket != "" {
		if sys.socket, err = listenSocket(socket); err != nil {
			if tcp != nil {
				tcp.Close()
			}
			return fmt.Errorf("status socket: %w", err)
		}
	}
	start := func(ln net.Listener, h http.Handler) {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		sys.servers = append(sys.servers, srv)
		go safely(sys.log, "status server", func() { srv.Serve(ln) })
	}
	if tcp != nil {
		start(tcp, access.Guard(sys.Handler()))
	}
	if sys.socket != nil {
		start(sys.socket.ln, sys.Handler())
	}
	return nil
}

func (sys *System) closeServers() {
	for _, srv := range sys.servers {
		srv.Close()
	}
	if sys.socket != nil {
		sys.socket.remove()
	}
}

// ownSocket is a listening Unix socket and the identity of its file, so
// that it is removed at the end only if it is still this one.
type ownSocket struct {
	ln       net.Listener
	path     string
	dev, ino uint64
}

// listenSocket listens on a Unix socket at path. What is already there is
// removed only if it is a stale socket, one nobody answers on; anything
// else (a running instance's socket, a file, a directory) is an error that
// says what it is.
func listenSocket(path string) (*ownSocket, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket but %s; not replacing it", path, fileKind(fi.Mode()))
		}
		if err := socketInUse(path); err != nil {
			return nil, err
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	s := &ownSocket{ln: ln, path: path}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err == nil {
		s.dev, s.ino = st.Dev, st.Ino
	}
	return s, nil
}

// fileKind names the type of a file for an error message.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "another kind of file"
}

// socketInUse returns nil for a stale socket, and otherwise an error
// naming the process that answers on it.
func socketInUse(path string) error {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil // stale: left by an instance that ended
	}
	if err != nil {
		return fmt.Errorf("%s: cannot tell whether another instance uses it: %w", path, err)
	}
	defer c.Close()
	who := "another process"
	if raw, err := c.(*net.UnixConn).SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) {
			if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
				who = fmt.Sprintf("process %d", cred.Pid)
				if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cred.Pid)); err == nil && len(b) > 0 {
					who += fmt.Sprintf(" (%s)", strings.Join(strings.Fields(strings.ReplaceAll(string(b), "\x00", " ")), " "))
				}
			}
		})
	}
	return fmt.Errorf("%s is in use by %s, another ainative instance; stop it or choose another socket (--socket or $%s)", path, who, SocketEnv)
}

// remove closes the listener (if the server has not) and removes the
// socket file if it is still the one this instance made.
func (s *ownSocket) remove() {
	s.ln.Close()
	var st unix.Stat_t
	if err := unix.Stat(s.path, &st); err == nil && st.Dev == s.dev && st.Ino == s.ino {
		os.Remove(s.path)
	}
}

// RunPID1 is the life of PID 1. It does not return: the machine powers
// off (or reboots) at its end.
func RunPID1() {
	console := os.Stderr // the kernel opens /dev/console as PID 1's stdio
	sys := newSystem(true, console)
	params := bootParams{}
	defer func() {
		// PID 1 must not exit (the kernel would panic): log, then keep
		// reaping until someone powers off.
		if r := recover(); r != nil {
			sys.log.Error("PID 1 panicked; still reaping", "panic", r)
			for {
				if pid, _ := syscall.Wait4(-1, nil, 0, nil); pid <= 0 {
					time.Sleep(time.Second)
				}
			}
		}
	}()
	reboot, failed := sys.boot(&params)
	if err := powerOff(params, reboot, failed); err != nil {
		sys.log.Error("power off failed", "err", err)
	}
	for {
		// The kernel stops us. (A bare select{} could trip the runtime's
		// deadlock detector, and PID 1 exiting panics the kernel.)
		time.Sleep(time.Hour)
	}
}

// boot brings the system up, runs until a shutdown request (or the
// command of command mode ends), then stops the services. It returns
// whether to reboot and whether PID 1 failed.
func (sys *System) boot(params *bootParams) (reboot, failed bool) {
	var slot *slotHealth
	failure := func(err error) (bool, bool) {
		sys.log.Error("boot failed", "err", err)
		if slot.onTrial() {
			// A new slot that fails here is abandoned at once: the
			// reboot follows BootOrder to the committed slot.
			sys.log.Error("rebooting into the committed slot")
			return true, true
		}
		return false, true
	}
	sys.bootTimes.Mark(StageInit)
	if err := mountEarly(); err != nil {
		sys.log.Error("mounts", "err", err) // go on: most of the system may still work
	}
	sys.bootTimes.Mark(StageMounts)
	cmdline, _ := os.ReadFile("/proc/cmdline")
	p, err := parseCmdline(string(cmdline))
	if err != nil {
		sys.log.Error("boot parameters ignored", "err", err)
	}
	*params = p
	quietConsole(string(cmdline))
	host := cmp.Or(p.hostname, "ainative")
	if err := unix.Sethostname([]byte(host)); err != nil {
		sys.log.Warn("hostname", "err", err)
	}
	os.Setenv("PATH", "/bin")
	os.Setenv("HOME", rootHome)
	os.Setenv("TERM", "linux")
	os.Setenv("AINATIVE_PID1", "1") // lets the shell's poweroff and reboot signal us
	// Deliver Ctrl-Alt-Del to PID 1 as SIGINT instead of an immediate reboot.
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sys.loadModules()
	sys.bootTimes.Mark(StageModules)
	if p.modelsDisk != "" {
		if err := mountModelsDisk(ctx, p.modelsDisk); err != nil {
			sys.log.Error("models disk", "err", err)
		} else {
			sys.log.Info("models disk mounted", "device", p.modelsDisk)
		}
	}
	slot = startSlotHealth(ctx, sys.log)
	if err := mountData(ctx, sys.log, p.dataDisk); err != nil {
		sys.log.Error("data disk", "err", err)
	}
	sys.bootTimes.Mark(StageData)
	// Runs before powerOff: the services are stopped by then.
	defer unmountData(sys.log)

	reaper := NewReaper()
	go safely(sys.log, "reaper", func() { reaper.Run(ctx) })
	sys.net = &Network{log: sys.log}
	go safely(sys.log, "network", func() { sys.net.Run(ctx) })

	command, err := os.ReadFile(CommandPath)
	commandMode := err == nil
	cfg, err := LoadConfig(ConfigPath)
	if errors.Is(err, os.ErrNotExist) {
		cfg = ImageConfig()
	} else if err != nil {
		// A broken file must still leave the user a console to fix it.
		sys.log.Error("service configuration; using the built-in default", "err", err)
		cfg = ImageConfig()
	}
	cfg = usableServices(cfg, commandMode, sys.log)
	sup, err := NewSupervisor(cfg, Options{Logger: sys.log, Reaper: reaper})
	if err != nil {
		return failure(err)
	}
	sys.sup = sup
	sys.token = NewStatusToken()
	access := StatusAccess{Token: sys.token, Allow: p.statusAllow, Public: cfg.Status.Public}
	if err := sys.serve(fmt.Sprintf(":%d", StatusPort), DefaultSocketPath(), access); err != nil {
		sys.log.Error("status server", "err", err)
	}
	sys.showToken(access)
	if err := sup.Start(ctx); err != nil {
		return failure(err)
	}
	sys.bootTimes.Mark(StageServices)
	checks := bootChecks(cfg, sup, client.SystemSocket, busapi.SystemSocket)
	go safely(sys.log, "boot times", func() { sys.watchBoot(ctx, checks, bootWatchLimit) })
	// PID 1 is up and its services started: the slot is healthy.
	go safely(sys.log, "slot commit", slot.markHealthy)

	requests := make(chan bool, 1) // true: reboot
	request := func(r bool) {
		select {
		case requests <- r:
		default:
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	go safely(sys.log, "signals", func() {
		for sig := range sigs {
			sys.log.Info("shutdown requested", "signal", sig)
			request(sig == syscall.SIGUSR1)
		}
	})
	go safely(sys.log, "power button", func() {
		watchPowerButton(ctx, sys.log, func() {
			sys.log.Info("power button pressed")
			request(false)
		})
	})

	var status *int
	if commandMode {
		st := sys.runCommandOnSerial(ctx, reaper, string(command))
		status = &st
	} else {
		reboot = <-requests
	}
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopCancel()
	if err := sup.Stop(stopCtx); err != nil {
		sys.log.Error("stopping services", "err", err)
	}
	sys.closeServers()
	if status != nil {
		// The status line goes last, after the services' shutdown logs.
		fmt.Fprintf(os.Stderr, "\n%s%d\n", CommandStatusPrefix, *status)
		drain(os.Stderr)
	}
	sys.log.Info("powering off", "reboot", reboot)
	return reboot, false
}

// showToken prints the status page's token on the console, not in the
// init log (which the status page serves), and keeps it in TokenPath for
// root in the guest.
func (sys *System) showToken(access StatusAccess) {
	if sys.statusURL == "" {
		return
	}
	if access.Public {
		fmt.Fprintf(os.Stderr, "ainative: status page on port %d, open to every network (services.json: status.public)\n", StatusPort)
		return
	}
	if err := atomicfile.WriteBytes(TokenPath, 0o600, []byte(sys.token+"\n")); err != nil {
		sys.log.Warn("status token file", "err", err)
	}
	fmt.Fprintf(os.Stderr, "ainative: status page on port %d; from other machines add ?token=%s\n", StatusPort, sys.token)
}

// quietConsole keeps kernel messages below warnings off the console, where
// they would land in the middle of the shell's lines, unless the kernel
// command line chose a level. dmesg still has them all.
func quietConsole(cmdline string) {
	for _, f := range strings.Fields(cmdline) {
		if f == "debug" || f == "ignore_loglevel" || strings.HasPrefix(f, "loglevel=") {
			return
		}
	}
	_ = os.WriteFile("/proc/sys/kernel/printk", []byte("4"), 0)
}

// usableServices drops console services whose terminal does not exist
// (no VGA console, fewer serial ports) and, in command mode, all consoles.
func usableServices(cfg *Config, commandMode bool, log *slog.Logger) *Config {
	out := &Config{Status: cfg.Status}
	for _, s := range cfg.Services {
		if s.TTY != "" {
			if commandMode {
				continue
			}
			if err := terminalPresent(s.TTY); err != nil {
				log.Info("no terminal for console; skipping", "service", s.Name, "tty", s.TTY, "err", err)
				continue
			}
		}
		out.Services = append(out.Services, s)
	}
	// Dependencies on dropped services would fail validation; consoles
	// are leaves, so this only matters for hand-written files.
	for i := range out.Services {
		var keep []string
		for _, d := range out.Services[i].After {
			for _, s := range out.Services {
				if s.Name == d {
					keep = append(keep, d)
				}
			}
		}
		out.Services[i].After = keep
	}
	return out
}

// terminalPresent reports whether a terminal device is backed by
// hardware. The node alone proves little: the 8250 driver makes
// /dev/ttyS0-3 even where no UART exists (an arm64 VM), and serial core
// then reports the port type as 0, PORT_UNKNOWN; the VT layer makes
// /dev/tty1 without a display (displayPresent).
func terminalPresent(tty string) error {
	if virtualConsole.MatchString(tty) && !displayPresent("/sys") {
		return errNoDisplay
	}
	if b, err := os.ReadFile(filepath.Join("/sys/class/tty", filepath.Base(tty), "type")); err == nil &&
		strings.TrimSpace(string(b)) == "0" {
		return errors.New("no UART behind the serial port")
	}
	f, err := os.OpenFile(tty, os.O_RDWR|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// loadModules loads the modules the image lists for a distribution
// kernel; the default kernel has its drivers built in and lists none.
func (sys *System) loadModules() {
	b, err := os.ReadFile(ModulesPath)
	if err != nil {
		return
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			names = append(names, line)
		}
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		sys.log.Error("uname", "err", err)
		return
	}
	dir := filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:]))
	ix, err := kmod.NewIndex(dir)
	if err != nil {
		sys.log.Error("kernel modules", "err", err)
		return
	}
	begin := time.Now()
	if err := ix.LoadAll(names...); err != nil {
		sys.log.Error("kernel modules", "err", err)
	}
	sys.log.Info("kernel modules loaded", "modules", len(names), "took", time.Since(begin).Round(time.Millisecond))
}

// runCommandOnSerial runs the command of command mode with its output
// on the dedicated serial ports, and returns its status.
func (sys *System) runCommandOnSerial(ctx context.Context, reaper *Reaper, src string) int {
	stdout := openRawTTY(CommandStdout, os.Stderr)
	stderr := openRawTTY(CommandStderr, stdout)
	defer func() {
		drain(stdout)
		drain(stderr)
	}()
	return runCommand(ctx, reaper, src, stdout, stderr)
}

// runCommand runs src in the shell (this binary's sh) and returns its
// status as a shell reports it.
func runCommand(ctx context.Context, reaper *Reaper, src string, stdout, stderr io.Writer) int {
	self, err := os.Executable()
	if err != nil {
		self = "/init"
	}
	cmd := exec.CommandContext(ctx, self, "sh", "-c", src)
	cmd.Args[0] = "ainative"
	cmd.Stdout, cmd.Stderr, cmd.Dir = stdout, stderr, "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := reaper.start(cmd); err != nil {
		fmt.Fprintf(stderr, "ainative: %v\n", err)
		return 127
	}
	err = cmd.Wait()
	reaper.forget(cmd.Process.Pid)
	if cmd.ProcessState == nil {
		fmt.Fprintf(stderr, "ainative: %v\n", err)
	}
	return shellStatus(cmd.ProcessState)
}

// shellStatus is a finished process's status as a shell reports it: the
// exit code, 128+N after signal N, and 127 when there is no state (Wait
// failed).
func shellStatus(ps *os.ProcessState) int {
	if ps == nil {
		return 127
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// openRawTTY opens a serial port in raw mode, so that the bytes the
// command writes reach the host unchanged (no \n to \r\n). It falls back
// to fallback when the port is missing.
func openRawTTY(path string, fallback *os.File) *os.File {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NOCTTY, 0)
	if err != nil {
		return fallback
	}
	if _, err := term.MakeRaw(int(f.Fd())); err != nil {
		f.Close()
		return fallback
	}
	return f
}

// drain waits until a terminal has sent what was written to it (tcdrain),
// so that nothing is lost when the machine powers off right after.
func drain(f *os.File) {
	_ = unix.IoctlSetInt(int(f.Fd()), unix.TCSBRK, 1)
}

// safely runs fn, logging instead of crashing PID 1 if it panics.
func safely(log *slog.Logger, what string, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("recovered from panic", "in", what, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	fn()
}
