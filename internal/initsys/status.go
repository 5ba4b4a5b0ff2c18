package initsys

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/raym33/ainative/internal/hw"
	"github.com/raym33/ainative/internal/update"
)

// StatusPort is the TCP port of the status page inside the image;
// `ainative vm` forwards a host loopback port to it.
const StatusPort = 8080

// Status is the document served at /status.
type Status struct {
	Hostname string          `json:"hostname"`
	Kernel   string          `json:"kernel"`
	PID1     bool            `json:"pid1"` // false under `ainative up`
	Uptime   float64         `json:"uptime_seconds"`
	Memory   MemoryStatus    `json:"memory"`
	Network  *NetworkStatus  `json:"network,omitempty"`
	Services []ServiceReport `json:"services"`
}

// MemoryStatus is the machine's memory, from /proc/meminfo.
type MemoryStatus struct {
	TotalKiB     uint64 `json:"total_kib"`
	AvailableKiB uint64 `json:"available_kib"`
}

// ServiceReport is a service's status with its last log lines.
type ServiceReport struct {
	ServiceStatus
	LastLines []string `json:"last_lines"`
}

// LogsResponse is the document served at /logs.
type LogsResponse struct {
	Service string   `json:"service"`
	Lines   []string `json:"lines"`
}

// statusLines is how many log lines each service shows on /status.
const statusLines = 10

// InitLogName is the pseudo-service whose log is the supervisor's own.
const InitLogName = "init"

// Handler serves the status page (/), its JSON (/status), service logs
// (/logs?service=NAME&n=LINES), the boot's stages (/boot, a BootReport)
// and the slots (GET /update). Those only read, and it checks no access
// for them itself: the Unix socket serves them as is, and TCP serves
// them through StatusAccess.Guard, since command lines and logs are not
// for every network. The one change it makes, POST /update (install an
// update bundle), always needs the token (updateHandler).
func (sys *System) Handler() http.Handler {
	if sys.updates == nil {
		sys.updates = &updateHandler{token: sys.token, system: func() *update.System { return &update.System{} }}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /update", sys.updates.status)
	mux.HandleFunc("POST /update", sys.updates.install)
	mux.HandleFunc("GET /{$}", sys.servePage)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, sys.Status())
	})
	mux.HandleFunc("GET /logs", sys.serveLogs)
	mux.HandleFunc("GET /boot", sys.serveBoot)
	return mux
}

// Status gathers the current status.
func (sys *System) Status() Status {
	st := Status{PID1: sys.pid1, Uptime: uptimeSeconds(), Memory: readMemory()}
	st.Hostname, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		st.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if sys.net != nil {
		ns := sys.net.Status()
		st.Network = &ns
	}
	st.Services = []ServiceReport{}
	if sys.sup != nil {
		for _, s := range sys.sup.Status() {
			st.Services = append(st.Services, ServiceReport{ServiceStatus: s, LastLines: sys.sup.Logs(s.Name).Lines(statusLines)})
		}
	}
	return st
}

func (sys *System) logBuffer(name string) *LogBuffer {
	if name == "" || name == InitLogName {
		return sys.initLog
	}
	if sys.sup == nil {
		return nil
	}
	return sys.sup.Logs(name)
}

func (sys *System) serveLogs(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("service")
	n := 0
	if s := r.URL.Query().Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("n=%q is not a line count", s)})
			return
		}
		n = v
	}
	buf := sys.logBuffer(name)
	if buf == nil {
		known := []string{InitLogName}
		if sys.sup != nil {
			known = append(known, sys.sup.Names()...)
		}
		writeJSON(w, http.StatusNotFound, map[string]string{
			"error": fmt.Sprintf("no service %q (known: %s)", name, strings.Join(known, ", ")),
		})
		return
	}
	if name == "" {
		name = InitLogName
	}
	writeJSON(w, http.StatusOK, LogsResponse{Service: name, Lines: buf.Lines(n)})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

var page = template.Must(template.New("status").Funcs(template.FuncMap{
	"since": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return time.Since(t).Round(time.Second).String()
	},
	"uptime": func(s float64) string { return (time.Duration(s) * time.Second).String() },
}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Hostname}} — ainative</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
pre{margin:0;font-size:85%;max-width:60em;overflow:auto}</style></head><body>
<h1>{{.Hostname}}</h1>
<p>kernel {{.Kernel}} · up {{uptime .Uptime}} · memory {{.Memory.AvailableKiB}} KiB available of {{.Memory.TotalKiB}} KiB
{{with .Network}}{{if .Address}} · {{.Interface}} {{.Address}}{{end}}{{end}}
· <a href="/status">JSON</a> · <a href="/logs">init log</a></p>
<table><tr><th>service</th><th>state</th><th>pid</th><th>restarts</th><th>up for</th><th>last exit</th><th>last lines</th></tr>
{{range .Services}}<tr><td><a href="/logs?service={{.Name}}">{{.Name}}</a></td><td>{{.State}}</td>
<td>{{if .PID}}{{.PID}}{{end}}</td><td>{{.Restarts}}</td><td>{{if .PID}}{{since .Started}}{{end}}</td>
<td>{{.LastExit}}</td><td><pre>{{range .LastLines}}{{.}}
{{end}}</pre></td></tr>
{{end}}</table></body></html>
`))

func (sys *System) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := page.Execute(w, sys.Status()); err != nil {
		sys.log.Warn("status page", "err", err)
	}
}

func uptimeSeconds() float64 {
	var info unix.Sysinfo_t
	if unix.Sysinfo(&info) != nil {
		return 0
	}
	return float64(info.Uptime)
}

// readMemory reads /proc/meminfo; zeros when it cannot.
func readMemory() MemoryStatus {
	m, _ := hw.Meminfo()
	return MemoryStatus{TotalKiB: uint64(m["MemTotal"] >> 10), AvailableKiB: uint64(m["MemAvailable"] >> 10)}
}
