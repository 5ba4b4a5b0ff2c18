package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLogsErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("service") == "nope" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error": "no service \"nope\" (known: init)"}`))
			return
		}
		http.Error(w, "not an ainative status server", http.StatusTeapot)
	}))
	defer srv.Close()
	for _, tc := range []struct{ service, want string }{
		{"nope", `no service "nope"`},
		// A server that does not speak the status server's JSON: the
		// error must still say something.
		{"x", "418 I'm a teapot: not an ainative status server"},
	} {
		_, err := runCLI(t, "", "logs", "--url", srv.URL, tc.service)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("logs %s: error %v, want one containing %q", tc.service, err, tc.want)
		}
	}
}

// --token is sent as a bearer token, as the status server wants it from
// other machines.
func TestLogsToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error": "needs a token"}`))
			return
		}
		w.Write([]byte(`{"service": "init", "lines": ["hello"]}`))
	}))
	defer srv.Close()
	if _, err := runCLI(t, "", "logs", "--url", srv.URL); err == nil || !strings.Contains(err.Error(), "needs a token") {
		t.Errorf("without --token: %v", err)
	}
	out, err := runCLI(t, "", "logs", "--url", srv.URL, "--token", "s3cret")
	if err != nil || strings.TrimSpace(out) != "hello" {
		t.Errorf("with --token: %q, %v", out, err)
	}
}
