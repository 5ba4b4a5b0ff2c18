package initsys

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"
)

// Config is the declarative service configuration: the file
// /etc/ainative/services.json in the image (ImageConfig when it is
// missing), or for `ainative up` HostConfig or the file of --config.
// Example:
//
//	{"services": [
//	  {"name": "console-ttyS0", "command": ["ainative", "sh", "--login"],
//	   "tty": "/dev/ttyS0", "restart": "always"},
//	  {"name": "runtime", "command": ["ainative", "serve"],
//	   "restart": "on-failure", "backoff": {"initial": "1s", "max": "30s"},
//	   "env": {"AINATIVE_MODELS": "/models"}, "user": "0:0"},
//	  {"name": "bus", "command": ["ainative", "bus"], "after": ["runtime"]}
//	]}
type Config struct {
	Services []Service `json:"services"`
	// Status configures the status page (port 8080).
	Status StatusConfig `json:"status,omitzero"`
}

// StatusConfig is the status page's part of the configuration.
type StatusConfig struct {
	// Public serves the status page to every network without the token
	// (see StatusAccess). It shows service command lines and logs: turn
	// it on only where everyone who can reach the machine may read them.
	Public bool `json:"public,omitempty"`
}

// Service describes one supervised process.
type Service struct {
	// Name identifies the service in logs, the status page and `after`.
	Name string `json:"name"`
	// Command is the argv; a command without a slash is found in $PATH
	// (in the image every ainative subcommand has a link in /bin).
	Command []string `json:"command"`
	// Restart is the policy when the process exits: "always" (default),
	// "on-failure" (only after a non-zero status or a signal) or "never".
	Restart RestartPolicy `json:"restart,omitempty"`
	// Backoff bounds the delay between restarts: it starts at Initial,
	// doubles after each quick exit up to Max, and resets once the process
	// has run for StableAfter.
	Backoff Backoff `json:"backoff,omitzero"`
	// After names services that must have been started before this one; at
	// shutdown the order is reversed.
	After []string `json:"after,omitempty"`
	// Env adds to (or overrides) the supervisor's environment.
	Env map[string]string `json:"env,omitempty"`
	// User runs the process as "uid[:gid]" or a user name from
	// /etc/passwd; empty means the supervisor's own user.
	User string `json:"user,omitempty"`
	// Dir is the working directory; empty means "/".
	Dir string `json:"dir,omitempty"`
	// TTY, when set, makes the process a session leader with this terminal
	// as its controlling tty and standard streams (console shells). Its
	// output then goes to the terminal, not to the log buffer.
	TTY string `json:"tty,omitempty"`
	// StopTimeout is how long to wait after SIGTERM before SIGKILL.
	StopTimeout Duration `json:"stop_timeout,omitzero"`
}

// RestartPolicy says when a service that exited is started again.
type RestartPolicy string

// The restart policies.
const (
	RestartAlways    RestartPolicy = "always"
	RestartOnFailure RestartPolicy = "on-failure"
	RestartNever     RestartPolicy = "never"
)

// Backoff is the restart delay schedule of a service.
type Backoff struct {
	Initial     Duration `json:"initial,omitzero"`
	Max         Duration `json:"max,omitzero"`
	StableAfter Duration `json:"stable_after,omitzero"`
}

// Defaults for fields left out of the configuration.
const (
	DefaultBackoffInitial = time.Second
	DefaultBackoffMax     = 30 * time.Second
	DefaultStableAfter    = 10 * time.Second
	DefaultStopTimeout    = 5 * time.Second
)

// MinBackoff is the shortest restart delay a configuration may ask for: a
// crashing service restarted without pause would keep a CPU busy (a 1 ns
// back-off once restarted one 3,381 times in 2.5 s) and flood its log.
const MinBackoff = 100 * time.Millisecond

// Duration is a time.Duration written as a Go duration string ("1.5s") in
// JSON.
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string such as "500ms" or "2m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"1s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// maxConfigSize bounds what ParseConfig reads: a service list is small,
// and a larger file is a mistake, not a configuration.
const maxConfigSize = 1 << 20

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ParseConfig decodes and validates a configuration. name is the file name
// used in errors. The decoding is stricter than encoding/json's: unknown
// keys, keys in another case ("Name"), keys given twice and anything after
// the object are errors, so that a typo does not silently change
// behaviour; and an error in a service names the service and the key.
func ParseConfig(name string, r io.Reader) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxConfigSize)
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF")) // a UTF-8 byte order mark
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf(`%s: empty; want a JSON object like {"services": [...]}`, name)
	}
	var c Config
	if err := decodeStrict(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", name, configError(data, err))
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &c, nil
}

// LoadConfig reads and validates the configuration file at path.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseConfig(path, f)
}

// configError says where a decoding error is: the service (by name when
// the file gives one), the key, and the line and column.
func configError(data []byte, err error) error {
	var fe *fieldError
	if !errors.As(err, &fe) {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%s: unexpected end of the file", lineColumn(data, int64(len(data))))
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("%s: %w", lineColumn(data, se.Offset), err)
		}
		return err
	}
	where, path := "", fe.Path
	if len(path) >= 2 && path[0] == "services" {
		i := path[1].(int)
		where = fmt.Sprintf("services[%d]", i)
		if name := serviceName(data, i); name != "" {
			where = fmt.Sprintf("service %q", name)
		}
		path = path[2:]
	}
	if p := pathString(path); p != "" {
		where = strings.TrimPrefix(where+": "+p, ": ")
	}
	if where == "" {
		return fmt.Errorf("%s: %w", lineColumn(data, fe.Offset), fe.Err)
	}
	return fmt.Errorf("%s (%s): %w", where, lineColumn(data, fe.Offset), fe.Err)
}

// serviceName returns the "name" of the i-th service in a configuration
// that may not decode, or "".
func serviceName(data []byte, i int) string {
	var loose struct {
		Services []map[string]any `json:"services"`
	}
	_ = json.Unmarshal(data, &loose) // fills what it can
	if i < len(loose.Services) {
		if n, ok := loose.Services[i]["name"].(string); ok {
			return n
		}
	}
	return ""
}

func lineColumn(data []byte, off int64) string {
	off = min(max(off, 0), int64(len(data)))
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - int64(bytes.LastIndexByte(data[:off], '\n'))
	return fmt.Sprintf("line %d, column %d", line, col)
}

// Validate checks names, commands, policies and the dependency graph, and
// fills in defaults.
func (c *Config) Validate() error {
	seen := make(map[string]bool, len(c.Services))
	for i := range c.Services {
		s := &c.Services[i]
		where := fmt.Sprintf("services[%d]", i)
		if s.Name != "" {
			where = fmt.Sprintf("service %q", s.Name)
		}
		if !validName.MatchString(s.Name) {
			return fmt.Errorf("%s: name %q must be 1-64 letters, digits, '.', '_' or '-'", where, s.Name)
		}
		if seen[s.Name] {
			return fmt.Errorf("%s: name used twice", where)
		}
		seen[s.Name] = true
		if len(s.Command) == 0 || s.Command[0] == "" {
			return fmt.Errorf("%s: command is empty", where)
		}
		switch s.Restart {
		case "":
			s.Restart = RestartAlways
		case RestartAlways, RestartOnFailure, RestartNever:
		default:
			return fmt.Errorf("%s: restart %q must be \"always\", \"on-failure\" or \"never\"", where, s.Restart)
		}
		if s.Backoff.Initial == 0 {
			s.Backoff.Initial = Duration(DefaultBackoffInitial)
		}
		if s.Backoff.Max == 0 {
			s.Backoff.Max = Duration(max(DefaultBackoffMax, time.Duration(s.Backoff.Initial)))
		}
		if d := time.Duration(s.Backoff.Initial); d < MinBackoff {
			return fmt.Errorf("%s: backoff.initial %v is below the minimum %v", where, d, MinBackoff)
		}
		if s.Backoff.Max < s.Backoff.Initial {
			return fmt.Errorf("%s: backoff.max %v is below backoff.initial %v", where,
				time.Duration(s.Backoff.Max), time.Duration(s.Backoff.Initial))
		}
		if s.Backoff.StableAfter == 0 {
			s.Backoff.StableAfter = Duration(DefaultStableAfter)
		}
		if s.StopTimeout == 0 {
			s.StopTimeout = Duration(DefaultStopTimeout)
		}
		for k := range s.Env {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				return fmt.Errorf("%s: env key %q is not a valid variable name", where, k)
			}
		}
	}
	for _, s := range c.Services {
		for _, dep := range s.After {
			if !seen[dep] {
				return fmt.Errorf("service %q: after names unknown service %q", s.Name, dep)
			}
		}
	}
	_, err := c.startOrder()
	return err
}

// startOrder returns the services in an order where every service comes
// after those it names in After (a stable topological sort: among services
// that are ready together, the file order wins).
func (c *Config) startOrder() ([]*Service, error) {
	byName := make(map[string]*Service, len(c.Services))
	for i := range c.Services {
		byName[c.Services[i].Name] = &c.Services[i]
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := make(map[string]int, len(c.Services))
	order := make([]*Service, 0, len(c.Services))
	var visit func(s *Service, path []string) error
	visit = func(s *Service, path []string) error {
		switch state[s.Name] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("service %q: dependency cycle %s", s.Name, strings.Join(append(path, s.Name), " -> "))
		}
		state[s.Name] = visiting
		for _, dep := range s.After {
			if err := visit(byName[dep], append(path, s.Name)); err != nil {
				return err
			}
		}
		state[s.Name] = done
		order = append(order, s)
		return nil
	}
	for i := range c.Services {
		if err := visit(&c.Services[i], nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}
