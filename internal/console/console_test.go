package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, remote, target string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	r.RemoteAddr = remote
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestLoopbackOnlyByDefault(t *testing.T) {
	h := New(Config{})
	for _, remote := range []string{"127.0.0.1:5000", "[::1]:5000", "@"} {
		w := get(t, h, remote, "/console/")
		if w.Code != 200 || !strings.Contains(w.Body.String(), `<select id="model">`) {
			t.Errorf("%s: %d %q", remote, w.Code, w.Body.String())
		}
	}
	w := get(t, h, "192.168.1.20:5000", "/console/")
	if w.Code != 403 || !strings.Contains(w.Body.String(), "loopback clients only") {
		t.Errorf("remote client without a token configured: %d %q", w.Code, w.Body.String())
	}
	if w := get(t, h, "127.0.0.1:1", "/console/app.js"); w.Code != 200 || !strings.Contains(w.Body.String(), "/api/chat") {
		t.Errorf("app.js: %d", w.Code)
	}
}

func TestTokenForRemoteClients(t *testing.T) {
	h := New(Config{Token: "s3cret-token"})
	const remote = "10.0.0.7:4000"
	if w := get(t, h, remote, "/console/"); w.Code != 401 {
		t.Errorf("no token: %d", w.Code)
	}
	if w := get(t, h, remote, "/console/?token=wrong"); w.Code != 403 {
		t.Errorf("wrong token: %d", w.Code)
	}
	w := get(t, h, remote, "/console/?token=s3cret-token")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/" {
		t.Fatalf("right token: %d %v", w.Code, w.Header())
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie: %+v", cookies)
	}
	if w := get(t, h, remote, "/console/", cookies...); w.Code != 200 {
		t.Errorf("with the cookie: %d", w.Code)
	}
	if w := get(t, h, remote, "/console/", &http.Cookie{Name: cookieName, Value: "forged"}); w.Code != 401 {
		t.Errorf("forged cookie: %d", w.Code)
	}
}

func TestOnlyGet(t *testing.T) {
	r := httptest.NewRequest("POST", "/console/", nil)
	r.RemoteAddr = "127.0.0.1:1"
	w := httptest.NewRecorder()
	New(Config{}).ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
}
