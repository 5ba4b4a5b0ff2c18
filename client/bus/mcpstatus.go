package bus

import (
	"context"
	"time"
)

// MethodMCPStatus reports the external MCP servers the bus attaches as
// tool providers (struct{} -> MCPStatusResult). Any caller may ask: it
// names servers and their state, not their configuration.
const MethodMCPStatus = "ainative/mcp.status"

// MCPServerStatus is one external MCP server as the bus sees it.
type MCPServerStatus struct {
	Name      string    `json:"name"`
	Transport string    `json:"transport"` // stdio or http
	State     string    `json:"state"`     // starting, connected or failed
	Error     string    `json:"error,omitempty"`
	Tools     int       `json:"tools"`
	Restarts  int       `json:"restarts"`
	Since     time.Time `json:"since"` // when it entered State
}

// MCPStatusResult answers MethodMCPStatus.
type MCPStatusResult struct {
	Servers []MCPServerStatus `json:"servers"`
}

// MCPStatus returns the bus's external MCP servers.
func (c *Client) MCPStatus(ctx context.Context) ([]MCPServerStatus, error) {
	var r MCPStatusResult
	err := c.Call(ctx, MethodMCPStatus, struct{}{}, &r)
	return r.Servers, err
}
