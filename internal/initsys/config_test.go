package initsys

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig("services.json", strings.NewReader(`{"services": [
		{"name": "a", "command": ["ainative", "serve"], "restart": "on-failure",
		 "backoff": {"initial": "500ms", "max": "1m"}, "env": {"X": "1"}, "user": "1000:100",
		 "stop_timeout": "2s"},
		{"name": "b", "command": ["ainative", "bus"], "after": ["a"]}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Services[0], cfg.Services[1]
	if a.Restart != RestartOnFailure || time.Duration(a.Backoff.Initial) != 500*time.Millisecond ||
		time.Duration(a.Backoff.Max) != time.Minute || time.Duration(a.StopTimeout) != 2*time.Second {
		t.Errorf("a = %+v", a)
	}
	if b.Restart != RestartAlways || time.Duration(b.Backoff.Initial) != DefaultBackoffInitial ||
		time.Duration(b.StopTimeout) != DefaultStopTimeout {
		t.Errorf("defaults not applied: %+v", b)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"services": [{"name": "a", "command": ["x"], "restat": "never"}]}`, `service "a" (line 1, column 47): unknown key "restat"`},
		// Errors while decoding name the service, or its index without a name.
		{`{"services": [{"name": "web", "command": ["x"], "backoff": {"initial": "soon"}}]}`, `service "web": backoff.initial (line 1, column 72): time: invalid duration "soon"`},
		{`{"services": [{"name": "a", "command": ["x"]}, {"command": ["x"], "restart": 5}]}`, `services[1]: restart (line 1, column 78): want a string, got the number 5`},
		{`{"services": [{"name": "web", "command": "x"}]}`, `service "web": command (line 1, column 42): want an array, got the string "x"`},
		{`{"services": [{"name": "web", "command": ["x"], "env": {"A": 1}}]}`, `service "web": env.A (line 1, column 62): want a string`},
		// Keys are case-sensitive and given once.
		{`{"Services": []}`, `unknown key "Services"; keys are case-sensitive: "services"`},
		{`{"services": [{"NAME": "a", "command": ["x"]}]}`, `services[0] (line 1, column 16): unknown key "NAME"; keys are case-sensitive: "name"`},
		{`{"services": [{"name": "a", "name": "b", "command": ["x"]}]}`, `key "name" given twice`},
		// Nothing may follow the object, and an empty file says so.
		{`{"services": []} }`, `line 1, column 18: unexpected data after the configuration object`},
		{`{"services": []}]`, `unexpected data after the configuration object`},
		{`{"services": []} ,`, `line 1, column 18: unexpected data after the configuration object`},
		{"", `empty; want a JSON object`},
		{" \n", `empty; want a JSON object`},
		{`{"services": [`, `unexpected end of the file`},
		{`[]`, `want an object, got an array`},
		// Restarts need a pause.
		{`{"services": [{"name": "a", "command": ["x"], "backoff": {"initial": "1ns"}}]}`, `service "a": backoff.initial 1ns is below the minimum 100ms`},
		{`{"services": [{"name": "a", "command": []}]}`, `service "a": command is empty`},
		{`{"services": [{"name": "", "command": ["x"]}]}`, `services[0]: name ""`},
		{`{"services": [{"name": "a/b", "command": ["x"]}]}`, `name "a/b"`},
		{`{"services": [{"name": "a", "command": ["x"]}, {"name": "a", "command": ["y"]}]}`, `name used twice`},
		{`{"services": [{"name": "a", "command": ["x"], "restart": "sometimes"}]}`, `restart "sometimes"`},
		{`{"services": [{"name": "a", "command": ["x"], "after": ["zz"]}]}`, `unknown service "zz"`},
		{`{"services": [{"name": "a", "command": ["x"], "after": ["b"]}, {"name": "b", "command": ["x"], "after": ["a"]}]}`, `dependency cycle a -> b -> a`},
		{`{"services": [{"name": "a", "command": ["x"], "backoff": {"initial": "10s", "max": "1s"}}]}`, `backoff.max`},
		{`{"services": [{"name": "a", "command": ["x"], "backoff": {"initial": 10}}]}`, `duration must be a string`},
		{`{"services": [{"name": "a", "command": ["x"], "stop_timeout": "-1s"}]}`, `negative`},
		{`{"services": [{"name": "a", "command": ["x"], "env": {"A=B": "c"}}]}`, `env key "A=B"`},
		{"{\n\"services\": [\n{\"name\": 1}]}", `services[0]: name (line 3, column 10): want a string, got the number 1`},
		{`{"services": []} {}`, `unexpected data`},
	} {
		_, err := ParseConfig("f.json", strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "f.json: ") {
			t.Errorf("%s:\n got %v\nwant error containing %q", tc.in, err, tc.want)
		}
	}
}

// A byte order mark (as some editors write) is not an error.
func TestParseConfigBOM(t *testing.T) {
	cfg, err := ParseConfig("f.json", strings.NewReader("\uFEFF"+`{"services": [{"name": "a", "command": ["x"]}]}`))
	if err != nil || len(cfg.Services) != 1 {
		t.Fatalf("%+v, %v", cfg, err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(`{"services": [{"name": "a", "command": ["x"], "after": ["b"]}, {"name": "b", "command": ["y"]}]}`)
	f.Add(`{"services": [{"name": "a", "command": ["x"], "backoff": {"initial": "1s"}, "env": {"K": "V"}}]}`)
	f.Add(`{"services": null}`)
	f.Add(`[`)
	f.Add(`{"services": [{"Name": "a", "command": ["x"]}]} }`)
	f.Add(`{"services": [], "status": {"public": true}}`)
	f.Add(`{"services": [{"name": "a", "command": ["x"], "stop_timeout": "1s", "restart": "never", "user": "1:2", "dir": "/", "tty": ""}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		cfg, err := ParseConfig("fuzz", strings.NewReader(in))
		if err != nil {
			return
		}
		// The strict decoder agrees with encoding/json on what it accepts.
		var loose Config
		if err := json.Unmarshal(bytes.TrimPrefix([]byte(in), []byte("\uFEFF")), &loose); err != nil {
			t.Fatalf("accepted, but encoding/json says %v", err)
		}
		if err := loose.Validate(); err != nil || !reflect.DeepEqual(&loose, cfg) {
			t.Fatalf("strict %+v\nencoding/json %+v (%v)", cfg, loose, err)
		}
		// A configuration that parses must be fully usable.
		order, err := cfg.startOrder()
		if err != nil || len(order) != len(cfg.Services) {
			t.Fatalf("valid config with bad order: %v", err)
		}
		if _, err := NewSupervisor(cfg, Options{}); err != nil {
			t.Fatalf("valid config rejected by NewSupervisor: %v", err)
		}
	})
}
