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
