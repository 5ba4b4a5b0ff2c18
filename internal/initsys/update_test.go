package initsys

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/efiboot"
	"github.com/raym33/ainative/internal/update"
)

func TestUpdateNeedsToken(t *testing.T) {
	noSlots := func() *update.System {
		dir := t.TempDir()
		return &update.System{Vars: efiboot.Vars{Dir: dir}, SysBlock: filepath.Join(dir, "none"), DevDir: dir, Cmdline: update.SlotParam + "=a", LockPath: filepath.Join(dir, "lock")}
	}
	h := &updateHandler{token: "secret", system: noSlots}
	post := func(auth string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/update?token=secret", strings.NewReader("bundle"))
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		r.AddCookie(&http.Cookie{Name: tokenCookie, Value: "secret"})
		w := httptest.NewRecorder()
		h.install(w, r)
		return w
	}
	// Neither the page's query token nor its cookie is enough.
	for _, auth := range []string{"", "Bearer wrong", "secret"} {
		if w := post(auth); w.Code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d %s", auth, w.Code, w.Body)
		}
	}
	w := post("Bearer secret")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "update refused") || !strings.Contains(w.Body.String(), "no partition named") {
		t.Errorf("with the token, on a machine without slots: %d %s", w.Code, w.Body)
	}
	h.mu.Lock()
	if w := post("Bearer secret"); w.Code != http.StatusConflict {
		t.Errorf("second install at once: %d", w.Code)
	}
	h.mu.Unlock()
	sw := httptest.NewRecorder()
	h.status(sw, httptest.NewRequest("GET", "/update", nil))
	if sw.Code != http.StatusConflict || !strings.Contains(sw.Body.String(), "no partition named") {
		t.Errorf("status without slots: %d %s", sw.Code, sw.Body)
	}
}
