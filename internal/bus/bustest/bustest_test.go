package bustest

import (
	"context"
	"path/filepath"
	"testing"

	busapi "github.com/raym33/ainative/client/bus"
	"github.com/raym33/ainative/internal/bus"
)

func TestServe(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "bus.sock")
	Serve(t, bus.Config{Dir: t.TempDir()}, sock)
	c, err := busapi.Dial(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CallTool(context.Background(), "system_info", map[string]any{}); err != nil {
		t.Fatalf("system_info on the served bus: %v", err)
	}
}
