package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	busapi "github.com/raym33/ainative/client/bus"
	"github.com/raym33/ainative/internal/hw"
)

// tool is a tool the bus offers: its own (owner nil) or one a connected
// process serves.
type tool struct {
	spec   busapi.ToolSpec
	owner  *conn // nil for the bus's own tools
	schema *jsonschema.Schema
	run    func(ctx context.Context, caller *conn, args json.RawMessage) (busapi.ToolResult, error)
}

func (t *tool) ownerUID() uint32 {
	if t.owner == nil {
		return 0
	}
	return t.owner.p.UID
}

// Limits of tools.
const (
	MaxToolsPerConn = 64
	MaxReadFile     = 256 << 10
	MaxDirEntries   = 1000
)

var toolName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)

// anyObject is the input schema of a tool that declares none.
var anyObject = json.RawMessage(`{"type":"object"}`)

// compileSchema compiles a tool's input schema; nil or empty means any object.
func compileSchema(name string, raw json.RawMessage) (*jsonschema.Schema, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = anyObject
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("tool %q: input schema: %w", name, err)
	}
	c := jsonschema.NewCompiler()
	url := "mem:///" + name + ".json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("tool %q: input schema: %w", name, err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("tool %q: input schema: %w", name, err)
	}
	return sch, nil
}

// validateArgs checks arguments against the tool's input schema.
func (t *tool) validateArgs(args json.RawMessage) error {
	if len(bytes.TrimSpace(args)) == 0 {
		args = json.RawMessage(`{}`)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(args))
	if err != nil {
		return fmt.Errorf("tool %q: arguments are not JSON: %w", t.spec.Name, err)
	}
	if err := t.schema.Validate(v); err != nil {
		return fmt.Errorf("tool %q: arguments do not match its schema: %v", t.spec.Name, err)
	}
	return nil
}

func mustTool(spec busapi.ToolSpec, run func(ctx context.Context, caller *conn, args json.RawMessage) (busapi.ToolResult, error)) *tool {
	sch, err := compileSchema(spec.Name, spec.InputSchema)
	if err != nil {
		panic(err) // the bus's own schemas are constants
	}
	return &tool{spec: spec, schema: sch, run: run}
}

// systemTools are the bus's own tools.
func (s *Server) systemTools() map[string]*tool {
	pathSchema := json.RawMessage(`{"type":"object","properties":{"path":{"type":"string","description":"absolute, or relative to the caller's working directory"}},"required":["path"],"additionalProperties":false}`)
	ts := []*tool{
		mustTool(busapi.ToolSpec{Name: "system_info", Effect: busapi.EffectRead,
			Description: "Hardware and OS of this machine: CPUs, memory, accelerators.",
			InputSchema: json.RawMessage(`{"type":"object","additionalProperties":false}`)}, s.systemInfo),
		mustTool(busapi.ToolSpec{Name: "list_dir", Effect: busapi.EffectRead,
			Description: "List a directory, with the caller's permissions.", InputSchema: pathSchema}, s.listDir),
		mustTool(busapi.ToolSpec{Name: "read_file", Effect: busapi.EffectRead,
			Description: "Read a text file (first 256 KiB), with the caller's permissions.", InputSchema: pathSchema}, s.readFile),
		mustTool(busapi.ToolSpec{Name: "run_command", Effect: busapi.EffectDestructive,
			Description: "Run a shell command as the caller, after a person consents. 30 s limit, 64 KiB output.",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"command":{"type":"string","minLength":1},"dir":{"type":"string"}},"required":["command"],"additionalProperties":false}`)}, s.runCommand),
	}
	m := map[string]*tool{}
	for _, t := range ts {
		m[t.spec.Name] = t
	}
	return m
}

func (s *Server) systemInfo(ctx context.Context, _ *conn, _ json.RawMessage) (busapi.ToolResult, error) {
	info, err := hw.Discover(ctx)
	if err != nil {
		return busapi.ToolResult{}, fmt.Errorf("system_info: %w", err)
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return busapi.ToolResult{}, err
	}
	return busapi.ToolResult{Text: string(b)}, nil
}

// callerPath resolves a path argument against the caller's working
// directory and checks it against the policy's read roots.
func (s *Server) callerPath(c *conn, args json.RawMessage) (string, error) {
	var a struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal(args, &a); err != nil {
		return "", err
	}
	p := a.Path
	if !filepath.IsAbs(p) {
		cwd, err := c.p.cwd()
		if err != nil {
			return "", err
		}
		p = filepath.Join(cwd, p)
	}
	p = filepath.Clean(p)
	if !s.policy.underRoots(p) {
		return "", fmt.Errorf("%s is outside the paths the policy allows", p)
	}
	return p, nil
}

// openChecked opens path as the caller and checks the path it really
// reached (after symlinks) against the read roots.
func (s *Server) openChecked(c *conn, args json.RawMessage) (*os.File, error) {
	p, err := s.callerPath(c, args)
	if err != nil {
		return nil, err
	}
	f, err := openAs(c.p, p)
	if err != nil {
		return nil, err
	}
	real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err == nil && !s.policy.underRoots(real) {
		f.Close()
		return nil, fmt.Errorf("%s leads to %s, outside the paths the policy allows", p, real)
	}
	return f, nil
}

func (s *Server) listDir(_ context.Context, c *conn, args json.RawMessage) (busapi.ToolResult, error) {
	f, err := s.openChecked(c, args)
	if err != nil {
		return busapi.ToolResult{}, fmt.Errorf("list_dir: %w", err)
	}
	defer f.Close()
	ents, err := f.ReadDir(MaxDirEntries)
	if err != nil && err != io.EOF {
		return busapi.ToolResult{}, fmt.Errorf("list_dir: %w", err)
	}
	var b strings.Builder
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() {
			name += "/"
		}
		b.WriteString(name + "\n")
	}
	return busapi.ToolResult{Text: b.String()}, nil
}

func (s *Server) readFile(_ context.Context, c *conn, args json.RawMessage) (busapi.ToolResult, error) {
	f, err := s.openChecked(c, args)
	if err != nil {
		return busapi.ToolResult{}, fmt.Errorf("read_file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxReadFile))
	if err != nil {
		return busapi.ToolResult{}, fmt.Errorf("read_file: %w", err)
	}
	return busapi.ToolResult{Text: string(b)}, nil
}

func (s *Server) runCommand(ctx context.Context, c *conn, args json.RawMessage) (busapi.ToolResult, error) {
	var a struct {
		Command string `json:"command"`
		Dir     string `json:"dir"`
	}
	if err := json.Unmarshal(args, &a); err != nil {
		return busapi.ToolResult{}, err
	}
	dir := a.Dir
	if dir == "" {
		d, err := c.p.cwd()
		if err != nil {
			return busapi.ToolResult{}, fmt.Errorf("run_command: %w", err)
		}
		dir = d
	}
	out, code, err := runAs(ctx, c.p, a.Command, dir, s.cfg.CommandTimeout)
	if err != nil {
		return busapi.ToolResult{Text: out, IsError: true}, err
	}
	return busapi.ToolResult{Text: out + fmt.Sprintf("\n[exit status %d]", code), IsError: code != 0}, nil
}
