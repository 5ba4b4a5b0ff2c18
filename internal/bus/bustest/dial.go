package bustest

import (
	"context"
	"testing"
	"time"

	busapi "github.com/raym33/ainative/client/bus"
)

// Dial connects to the bus on sock as this process, within ten seconds,
// and closes the connection when the test ends.
func Dial(t testing.TB, sock string) *busapi.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := busapi.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
