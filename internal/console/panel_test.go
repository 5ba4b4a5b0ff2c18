package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	busapi "github.com/raym33/ainative/client/bus"
	"github.com/raym33/ainative/internal/bus"
	"github.com/raym33/ainative/internal/bus/bustest"
)

// startBus serves a bus with the default policy; this test binary is the
// bus's own executable, so its connections may answer consent.
func startBus(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "bus.sock")
	bustest.Serve(t, bus.Config{Dir: t.TempDir(), Policy: &bus.Policy{}, ConsentTimeout: time.Minute}, sock)
	return sock
}

// A panel with its session: the console handler, the session cookie, and
// a second client of the same user to ask for consent and publish.
func startPanel(t *testing.T) (http.Handler, string, *busapi.Client, string) {
	t.Helper()
	sock := startBus(t)
	p, token, err := NewPanel(context.Background(), bustest.Dial(t, sock))
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Panel: p}), token, bustest.Dial(t, sock), sock
}

func request(t *testing.T, h http.Handler, method, target, body string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.RemoteAddr = "127.0.0.1:4000"
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPanelSessionIsOneTime(t *testing.T) {
	h, token, _, _ := startPanel(t)
	if w := request(t, h, "GET", "/console/bus/context", ""); w.Code != 401 {
		t.Fatalf("no session: %d %s", w.Code, w.Body)
	}
	if w := request(t, h, "GET", "/console/?session=wrong", ""); w.Code != 403 {
		t.Fatalf("wrong token: %d", w.Code)
	}
	w := request(t, h, "GET", "/console/?session="+token, "")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/" {
		t.Fatalf("opening the session: %d %v", w.Code, w.Header())
	}
	cookie := w.Result().Cookies()[0]
	if cookie.Name != sessionCookie || cookie.Value == token || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v", cookie)
	}
	if w := request(t, h, "GET", "/console/?session="+token, ""); w.Code != 403 || !strings.Contains(w.Body.String(), "used already") {
		t.Fatalf("token reused: %d %s", w.Code, w.Body)
	}
	if w := request(t, h, "GET", "/console/bus/context", "", cookie); w.Code != 200 {
		t.Fatalf("with the session: %d %s", w.Code, w.Body)
	}
	forged := &http.Cookie{Name: sessionCookie, Value: token}
	if w := request(t, h, "GET", "/console/bus/audit", "", forged); w.Code != 401 {
		t.Fatalf("token as a cookie: %d", w.Code)
	}
}

func TestPanelAnswersConsent(t *testing.T) {
	h, token, other, _ := startPanel(t)
	cookie := request(t, h, "GET", "/console/?session="+token, "").Result().Cookies()[0]
	ctx := context.Background()
	if _, err := other.Publish(ctx, busapi.PublishParams{Kind: "note", Text: "visible in the panel", Sensitivity: busapi.Private}); err != nil {
		t.Fatal(err)
	}
	w := request(t, h, "GET", "/console/bus/context", "", cookie)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "visible in the panel") {
		t.Fatalf("context: %d %s", w.Code, w.Body)
	}
	mark := filepath.Join(t.TempDir(), "mark")
	for _, approve := range []bool{false, true} {
		res := make(chan error, 1)
		go func() {
			_, err := other.CallTool(ctx, "run_command", map[string]any{"command": "touch " + mark})
			res <- err
		}()
		var pending struct{ Requests []busapi.ConsentRequest }
		for len(pending.Requests) == 0 {
			w := request(t, h, "GET", "/console/bus/consent", "", cookie)
			if err := json.Unmarshal(w.Body.Bytes(), &pending); err != nil {
				t.Fatalf("consent list %q: %v", w.Body, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		r := pending.Requests[0]
		if r.Tool != "run_command" || r.Risk == nil || !strings.Contains(string(r.Arguments), mark) {
			t.Fatalf("request %+v", r)
		}
		if w := request(t, h, "POST", "/console/bus/consent/"+r.ID, `{"approve":true}`); w.Code != 401 {
			t.Fatalf("answer without a session: %d", w.Code)
		}
		if w := request(t, h, "POST", "/console/bus/consent/"+r.ID, `{"approve":"yes"}`, cookie); w.Code != 400 {
			t.Fatalf("malformed answer: %d", w.Code)
		}
		body := `{"approve":false}`
		if approve {
			body = `{"approve":true}`
		}
		if w := request(t, h, "POST", "/console/bus/consent/"+r.ID, body, cookie); w.Code != 200 {
			t.Fatalf("answer: %d %s", w.Code, w.Body)
		}
		err := <-res
		_, serr := os.Stat(mark)
		if approve && (err != nil || serr != nil) {
			t.Fatalf("approved: %v, mark %v", err, serr)
		}
		if !approve && (err == nil || !strings.Contains(err.Error(), "consent refused") || !errors.Is(serr, os.ErrNotExist)) {
			t.Fatalf("refused: %v, mark %v", err, serr)
		}
		if w := request(t, h, "POST", "/console/bus/consent/"+r.ID, body, cookie); w.Code != 404 {
			t.Fatalf("answered twice: %d", w.Code)
		}
	}
	w = request(t, h, "GET", "/console/bus/audit", "", cookie)
	if !strings.Contains(w.Body.String(), `"refused"`) || !strings.Contains(w.Body.String(), `"approved"`) {
		t.Fatalf("audit: %s", w.Body)
	}
}
