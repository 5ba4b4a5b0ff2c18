package qemu_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raym33/ainative/internal/image"
	"github.com/raym33/ainative/internal/initsys"
	"github.com/raym33/ainative/internal/qemu"
)

// The VM tests build the ainative binary, bake an image with a small
// synthesized model, boot it in QEMU (KVM when usable, TCG otherwise) and
// drive the guest's shell over the serial console. Timeouts are generous
// for TCG on two cores, and finite; on failure the whole console log is
// printed.

// needQEMU skips without QEMU, except under CI, where scripts/ci-deps.sh
// installs it. The VM tests run in parallel (as many at once as -parallel,
// GOMAXPROCS by default): a TCG guest runs on one host thread, so one VM
// at a time would leave the other core idle.
func needQEMU(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("VM test: not in -short mode")
	}
	if _, err := qemu.Binary("amd64"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (scripts/ci-deps.sh installs it)", err)
		}
		t.Skip(err)
	}
	t.Parallel()
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

var build struct {
	once sync.Once
	bin  string
	err  error
}

// ainative builds the static binary once per test run.
func ainative(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "ainative-vmtest-")
		if err != nil {
			build.err = err
			return
		}
		build.bin = filepath.Join(dir, "ainative")
		cmd := exec.Command("go", "build", "-o", build.bin, "./cmd/ainative")
		cmd.Dir = moduleRoot(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.bin != "" {
		os.RemoveAll(filepath.Dir(build.bin))
	}
	os.Exit(code)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// synthModel writes a tiny deterministic model with `ainative gguf synth`.
func synthModel(t *testing.T, bin, dir string) string {
	t.Helper()
	model := filepath.Join(dir, "tiny.gguf")
	cmd := exec.Command(bin, "gguf", "synth", "--shape", "tiny", "--type", "Q8_0", "--arch", "llama", "--out", model)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("needs `ainative gguf synth`: %v\n%s", err, out)
	}
	return model
}

// console collects the guest's serial output and waits for text in it.
type console struct {
	mu     sync.Mutex
	all    bytes.Buffer
	from   int // expect searches from here
	notify chan struct{}
	exited <-chan struct{} // closed when QEMU ends: stop waiting at once
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.all.Write(p)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.all.String()
}

// expect waits until want appears after the previous match and returns
// the text before it.
func (c *console) expect(t *testing.T, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		s := c.all.String()[c.from:]
		if i := strings.Index(s, want); i >= 0 {
			c.from += i + len(want)
			c.mu.Unlock()
			return s[:i]
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-c.exited:
			if !strings.Contains(c.String()[c.from:], want) {
				t.Fatalf("QEMU exited before %q appeared on the console", want)
			}
		case <-deadline:
			t.Fatalf("no %q on the console after %v", want, timeout)
		}
	}
}

const prompt = "ainative:/# "

// startVM starts QEMU with cfg for at most timeout, its serial output on
// the returned console and its input from the returned writer. QEMU is
// killed when the test ends, and the console log printed if it failed.
func startVM(t *testing.T, cfg *qemu.Config, timeout time.Duration) (*qemu.VM, *console, io.Writer) {
	t.Helper()
	con := &console{notify: make(chan struct{}, 1)}
	stdin, typeIn := io.Pipe()
	cfg.Stdin, cfg.Stdout, cfg.Stderr = stdin, con, con
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	vm, err := qemu.Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	con.exited = vm.Done()
	started := time.Now().Format(time.TimeOnly)
	t.Cleanup(func() {
		vm.Kill()
		vm.Wait()
		cancel()
		typeIn.Close()
		if t.Failed() {
			t.Logf("console log of the VM started at %s:\n%s", started, con.String())
		}
	})
	return vm, con, typeIn
}

func TestVMBootShellGenerateStatusPoweroff(t *testing.T) {
	needQEMU(t)
	bin := ainative(t)
	dir := t.TempDir()
	model := synthModel(t, bin, dir)
	imgDir := filepath.Join(dir, "img")
	run(t, bin, "image", "build", "-o", imgDir, "--model", model)
	m, err := image.ReadManifest(imgDir)
	if err != nil {
		t.Fatal(err)
	}

	cfg := &qemu.Config{
		Kernel: filepath.Join(imgDir, m.Kernel), Initrd: filepath.Join(imgDir, m.Initramfs),
		MemoryMiB: 1024, CPUs: 2, Forwards: []qemu.Forward{{Host: 0, Guest: initsys.StatusPort}},
	}
	begin := time.Now()
	vm, con, typeIn := startVM(t, cfg, 4*time.Minute)
	con.expect(t, prompt, 2*time.Minute)
	t.Logf("booted to the shell prompt in %v with %s", time.Since(begin).Round(10*time.Millisecond), vm.Accel)

	// sh runs a command line in the guest's shell and returns its output
	// and status. The markers are written so that their echo differs from
	// their output: the echo shows "$((1))", the output "1".
	sh := func(cmdline string, timeout time.Duration) (string, string) {
		t.Helper()
		fmt.Fprintf(typeIn, "echo '<<'BEGIN$((1)); %s; echo END$((1))'>>' $?\r", cmdline)
		con.expect(t, "<<BEGIN1", timeout)
		out := con.expect(t, "END1>> ", timeout)
		status := strings.TrimSpace(con.expect(t, prompt, timeout))
		return strings.TrimSpace(strings.ReplaceAll(out, "\r\n", "\n")), status
	}

	if out, st := sh("ls /models", time.Minute); st != "0" || out != "tiny.gguf" {
		t.Errorf("ls /models: status %s, output %q", st, out)
	}
	if out, st := sh("hw --json --no-bandwidth", 2*time.Minute); st != "0" || !json.Valid([]byte(out)) {
		t.Errorf("hw --json: status %s, output %q", st, out)
	}
	out, st := sh("generate --model /models/tiny.gguf --tokens 1,2,3 -n 4 --temp 0 --json", 3*time.Minute)
	var gen struct {
		Tokens []int `json:"tokens"`
	}
	if st != "0" || json.Unmarshal([]byte(out), &gen) != nil {
		t.Errorf("generate: status %s, output %q", st, out)
	}
	if out, st := sh("cat /proc/1/cmdline; echo; uname -r", time.Minute); st != "0" || !strings.HasPrefix(out, "/init") {
		t.Errorf("PID 1: status %s, output %q", st, out)
	}
	if out, st := sh("logs -n 50", time.Minute); st != "0" || !strings.Contains(out, "service started") {
		t.Errorf("logs: status %s, output %q", st, out)
	}

	// PID 1's status JSON through the forwarded port.
	url := fmt.Sprintf("http://127.0.0.1:%d/status", cfg.Forwards[0].Host)
	var status initsys.Status
	deadline := time.Now().Add(time.Minute)
	for {
		err = getJSON(url, &status)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("status page through the forwarded port: %v", err)
	}
	if !status.PID1 || status.Hostname != "ainative" || status.Network == nil || status.Network.Address == "" {
		t.Errorf("status = %+v", status)
	}
	// The forward is admitted without a token (the kernel command line
	// says so), but the Host header is still checked, and the token for
	// other machines was shown on the console.
	req, _ := http.NewRequest("GET", url, nil)
	req.Host = "rebound.example"
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("status page with a foreign Host header: %s", resp.Status)
		}
	}
	if !strings.Contains(con.String(), "from other machines add ?token=") {
		t.Error("the console shows no status page token")
	}
	running := false
	for _, s := range status.Services {
		running = running || (s.Name == "console-ttyS0" && s.State == initsys.StateRunning)
	}
	if !running {
		t.Errorf("console-ttyS0 not running in %+v", status.Services)
	}

	fmt.Fprintf(typeIn, "poweroff\r")
	code, err := vm.WaitTimeout(2 * time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if o := qemu.Classify("amd64", code); o != qemu.Clean {
		t.Errorf("QEMU exit status %d: %v, want a clean power-off", code, o)
	}
	t.Logf("boot, 5 commands, status check and power-off took %v", time.Since(begin).Round(10*time.Millisecond))
}

func getJSON(url string, v any) error {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// TestVMCommand checks `ainative vm -c`: the command's output on our
// stdout and stderr, and its exit status as ours. The model goes to the
// SquashFS models disk, which PID 1 mounts and links into /models.
func TestVMCommand(t *testing.T) {
	needQEMU(t)
	bin := ainative(t)
	dir := t.TempDir()
	model := synthModel(t, bin, dir)
	imgDir := filepath.Join(dir, "img")
	run(t, bin, "image", "build", "-o", imgDir, "--model", model, "--max-initramfs-model", "0")
	cmd := exec.Command(bin, "vm", "--image", imgDir, "--ephemeral", "--timeout", "3m",
		"-c", `echo "out $(uname -s)"; ls /models; cat /models/tiny.gguf > /dev/null || exit 9; echo err >&2; printf 'no newline'; exit 3`)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if code != 3 || stdout.String() != "out Linux\ntiny.gguf\nno newline" || strings.TrimSpace(stderr.String()) != "err" {
		t.Errorf("vm -c: %v, status %d\nstdout %q\nstderr %q", err, code, stdout.String(), stderr.String())
	}
}

// TestVMDebianKernel boots a distribution kernel whose virtio drivers are
// modules: the image builder must pick them (with their dependencies
// from .modinfo) and PID 1 load them for the network to come up.
func TestVMDebianKernel(t *testing.T) {
	needQEMU(t)
	kdir := os.Getenv("AINATIVE_DEBIAN_KERNEL_DIR")
	if kdir == "" {
		kdir = "/var/cache/ainative/debian-kernel"
	}
	kernels, _ := filepath.Glob(filepath.Join(kdir, "boot", "vmlinuz-*"))
	if len(kernels) == 0 {
		msg := fmt.Sprintf("no Debian kernel in %s/boot (scripts/ci-deps.sh unpacks one there)", kdir)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	bin := ainative(t)
	dir := t.TempDir()
	model := synthModel(t, bin, dir)
	imgDir := filepath.Join(dir, "img")
	run(t, bin, "image", "build", "-o", imgDir, "--kernel", kernels[0], "--model", model, "--max-initramfs-model", "0")
	m, err := image.ReadManifest(imgDir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(m.Modules, ","), "virtio_net") {
		t.Fatalf("image modules %v lack virtio_net", m.Modules)
	}
	cmd := exec.Command(bin, "vm", "--image", imgDir, "--ephemeral", "--timeout", "3m",
		"-c", `cat /proc/modules; ls /sys/class/net; generate --model /models/tiny.gguf --tokens 1,2,3 -n 2 --temp 0 --json`)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("vm -c: %v\nstdout %s\nstderr %s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"virtio_net ", "virtio_pci ", "squashfs ", "eth0", `"tokens":[`} {
		if !strings.Contains(out, want) {
			t.Errorf("guest output lacks %q:\n%s", want, out)
		}
	}
}
