package console

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	busapi "github.com/raym33/ainative/client/bus"

	"github.com/raym33/ainative/internal/api"
	"github.com/raym33/ainative/internal/bus/bustest"
	"github.com/raym33/ainative/internal/testdata/testruntime"
)

// startDaemon serves the API and the console from a real runtime holding
// a synthesized tiny chat model named "tiny" (random weights: gibberish,
// but real tokens streamed by the real server).
func startDaemon(t *testing.T) string {
	t.Helper()
	rt, st, logger := testruntime.Tiny(t, 192)
	srv := api.New(api.Config{Runtime: rt, Models: st, Logger: logger, Console: New(Config{})})
	return serveHTTP(t, srv.Handler())
}

// serveHTTP serves h on a loopback TCP port until the test ends and
// returns its base URL.
func serveHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	return "http://" + l.Addr().String()
}

// browser starts headless Chromium; the returned context has run once, so
// that callers may derive deadlines from it.
func browser(t *testing.T, url string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err == nil {
				p := filepath.Join(os.TempDir(), fmt.Sprintf("ainative-console-%d.png", time.Now().UnixNano()))
				if os.WriteFile(p, png, 0o644) == nil {
					t.Logf("screenshot of the failure: %s", p)
				}
			}
		}
	})
	return ctx
}

// The stop button aborts a streaming answer: the server sees the request
// cancelled and the page says it stopped.
func TestBrowserStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium(t)
	cancelled := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("/console/", New(Config{}))
	mux.HandleFunc("GET /api/tags", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"models":[{"name":"slow:latest"}]}`)
	})
	mux.HandleFunc("GET /api/ps", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"models":[]}`)
	})
	mux.HandleFunc("POST /api/chat", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		io.WriteString(w, `{"message":{"role":"assistant","content":"first "},"done":false}`+"\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(cancelled)
	})
	ctx := browser(t, serveHTTP(t, mux)+"/console/")
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err := chromedp.Do(tctx,
		chromedp.WaitReady(chromedp.CSS(`#model option[value="slow:latest"]`)),
		chromedp.SendKeys(chromedp.CSS(`#input`), "Tell me a long story"),
		chromedp.Click(chromedp.CSS(`#send`)),
		chromedp.WaitReady(chromedp.CSS(`.msg.assistant[data-chunks="1"]`)),
		chromedp.Click(chromedp.CSS(`#stop`)),
		chromedp.WaitReady(chromedp.CSS(`.msg.assistant[data-done="stopped"]`)),
	)
	if err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case <-cancelled:
	case <-tctx.Done():
		t.Fatal("the server never saw the request cancelled")
	}
	text, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`.msg.assistant`)))
	if err != nil || strings.TrimSpace(text) != "first" {
		t.Errorf("stopped answer: %q %v", text, err)
	}
}

func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium: install it (scripts/ci-deps.sh)")
	}
	t.Skip("no chromium to drive (apt-get install chromium)")
	return ""
}

// A person loads the console, picks the model, sends a message and sees
// the answer arrive in pieces, then stops a second one.
func TestBrowserChat(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium(t)
	base := startDaemon(t)
	ctx := browser(t, base+"/console/")
	tctx, tcancel := context.WithTimeout(ctx, 90*time.Second)
	defer tcancel()
	err := chromedp.Do(tctx,
		chromedp.WaitReady(chromedp.CSS(`#model option[value="tiny:latest"]`)),
		chromedp.SendKeys(chromedp.CSS(`#input`), "Hello there"),
		chromedp.Click(chromedp.CSS(`#send`)),
		chromedp.WaitReady(chromedp.CSS(`.msg.assistant[data-done]`)),
	)
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	chunks, err := chromedp.Run(tctx, chromedp.AttributeValue(chromedp.CSS(`.msg.assistant`), "data-chunks"))
	if err != nil {
		t.Fatal(err)
	}
	done, err := chromedp.Run(tctx, chromedp.AttributeValue(chromedp.CSS(`.msg.assistant`), "data-done"))
	if err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`.msg.assistant`)))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(chunks.Value)
	if n < 2 || text == "" || (done.Value != "stop" && done.Value != "length") {
		t.Fatalf("answer: %d pieces, done %q, text %q; want it streamed in pieces", n, done.Value, text)
	}
	if p := os.Getenv("AINATIVE_CONSOLE_SCREENSHOT"); p != "" {
		// A picture of the console for the documentation.
		png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
		if err != nil || os.WriteFile(p, png, 0o644) != nil {
			t.Errorf("screenshot: %v", err)
		}
	}
	if err := chromedp.Do(tctx, chromedp.WaitNotPresent(chromedp.CSS(`#loaded li.none`))); err != nil {
		t.Errorf("the loaded models never showed tiny: %v", err)
	}
	loaded, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`#loaded`)))
	if err != nil || !strings.Contains(loaded, "tiny") {
		t.Errorf("loaded models: %q %v", loaded, err)
	}
}

// A person opens a console session with its one-time token, sees their
// context on the bus, and answers consent requests in the page: the
// command they allow runs, the one they deny does not.
func TestBrowserConsent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium(t)
	sock := startBus(t)
	panel, token, err := NewPanel(context.Background(), bustest.Dial(t, sock))
	if err != nil {
		t.Fatal(err)
	}
	other := bustest.Dial(t, sock)
	if _, err := other.Publish(context.Background(), busapi.PublishParams{Kind: "cwd", Text: "/home/someone/project", Sensitivity: busapi.Private}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	system := http.NewServeMux()
	system.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"services":[{"name":"runtime","state":"running","pid":42,"restarts":1}]}`)
	})
	system.HandleFunc("GET /logs", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"service":"`+r.URL.Query().Get("service")+`","lines":["listening on 127.0.0.1:11434"]}`)
	})
	mux.Handle("/console/", New(Config{Panel: panel, System: system}))
	mux.HandleFunc("GET /api/tags", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"models":[]}`) })
	mux.HandleFunc("GET /api/ps", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"models":[]}`) })
	ctx := browser(t, serveHTTP(t, mux)+"/console/?session="+token)
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = chromedp.Do(tctx,
		chromedp.WaitVisible(chromedp.CSS(`#bus`)),
		chromedp.Poll[chromedp.Void](`document.getElementById("context").textContent.includes("/home/someone/project")`),
	)
	if err != nil {
		t.Fatalf("bus panel: %v", err)
	}
	dir := t.TempDir()
	for _, allow := range []bool{true, false} {
		mark := filepath.Join(dir, strconv.FormatBool(allow))
		res := make(chan error, 1)
		go func() {
			_, err := other.CallTool(context.Background(), "run_command", map[string]any{"command": "touch " + mark})
			res <- err
		}()
		button := `#consent li[data-id] button.deny`
		if allow {
			button = `#consent li[data-id] button.allow`
		}
		// Wait for this request alone: the one answered before may
		// still be on the page for a moment.
		err := chromedp.Do(tctx,
			chromedp.WaitVisible(chromedp.CSS(button)),
			chromedp.Poll[chromedp.Void](`(l => l.length == 1 && l[0].textContent.includes(`+strconv.Quote(mark)+`))(document.querySelectorAll("#consent li[data-id]"))`),
		)
		if err != nil {
			t.Fatalf("the request in the page: %v", err)
		}
		shown, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`#consent li[data-id]`)))
		if err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(tctx, chromedp.Click(chromedp.CSS(button))); err != nil {
			t.Fatalf("answering in the page: %v", err)
		}
		for _, want := range []string{"run_command (destructive) asked by uid", "touch " + mark, "risk:"} {
			if !strings.Contains(shown, want) {
				t.Errorf("request shown as %q, lacks %q", shown, want)
			}
		}
		var callErr error
		select {
		case callErr = <-res:
		case <-tctx.Done():
			t.Fatal("the call never returned")
		}
		_, serr := os.Stat(mark)
		if allow && (callErr != nil || serr != nil) {
			t.Fatalf("allowed in the page: %v, mark %v", callErr, serr)
		}
		if !allow && (callErr == nil || !strings.Contains(callErr.Error(), "consent refused") || !os.IsNotExist(serr)) {
			t.Fatalf("denied in the page: %v, mark %v", callErr, serr)
		}
	}
	if err := chromedp.Do(tctx, chromedp.Poll[chromedp.Void](`document.getElementById("audit").textContent.includes("refused")`)); err != nil {
		t.Fatalf("audit in the page: %v", err)
	}
	// Services and their logs, from the init system's status server.
	err = chromedp.Do(tctx,
		chromedp.WaitVisible(chromedp.CSS(`#services li[data-service="runtime"] button.logs`)),
		chromedp.Click(chromedp.CSS(`#services li[data-service="runtime"] button.logs`)),
		chromedp.WaitVisible(chromedp.CSS(`#logs[data-service="runtime"]`)),
	)
	if err != nil {
		t.Fatalf("services: %v", err)
	}
	for sel, want := range map[string]string{`#services`: "runtime: running (pid 42), 1 restarts", `#logs`: "listening on 127.0.0.1:11434"} {
		if got, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(sel))); err != nil || !strings.Contains(got, want) {
			t.Errorf("%s shows %q (%v), want %q", sel, got, err, want)
		}
	}
}
