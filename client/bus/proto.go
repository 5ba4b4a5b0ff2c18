package bus

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// SystemSocket is the bus's socket when it runs as a system service.
const SystemSocket = "/run/ainative/bus.sock"

// SocketPath is where the bus of this user listens: AINATIVE_BUS when set,
// else $XDG_RUNTIME_DIR/ainative/bus.sock when XDG_RUNTIME_DIR is set, else
// the system socket.
func SocketPath() string {
	if p := os.Getenv("AINATIVE_BUS"); p != "" {
		return p
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "ainative", "bus.sock")
	}
	return SystemSocket
}

// MethodPrefix starts every method the bus adds to MCP. Requests with it
// are answered by the bus (or, for the bus-to-client methods, by the
// client) beside the MCP session, on the same JSON-RPC stream.
const MethodPrefix = "ainative/"

// The methods the bus adds to MCP. Client to bus unless marked.
const (
	MethodHello           = "ainative/hello"            // HelloParams -> Identity
	MethodContextPublish  = "ainative/context.publish"  // PublishParams -> PublishResult
	MethodContextQuery    = "ainative/context.query"    // QueryParams -> QueryResult
	MethodToolRegister    = "ainative/tool.register"    // RegisterParams -> struct{}
	MethodToolCall        = "ainative/tool.call"        // bus to provider: ToolCallParams -> ToolResult
	MethodConsentRegister = "ainative/consent.register" // struct{} -> struct{}
	MethodConsentAsk      = "ainative/consent.ask"      // bus to agent: ConsentRequest -> ConsentAnswer
	MethodAuditQuery      = "ainative/audit.query"      // AuditQuery -> AuditResult
	MethodChat            = "ainative/ai.chat"          // ChatParams -> ChatResult
)

// Identity is a connected process as the kernel reports it (SO_PEERCRED,
// /proc/PID/exe pinned with a pidfd). The bus fills it in; identity fields
// a client sends are never read.
type Identity struct {
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
	PID    int32    `json:"pid"`
	Exe    string   `json:"exe"`
}

// Roles a connection can take with hello. A role only removes rights.
const (
	// RoleApp is an ordinary process (the default).
	RoleApp = "app"
	// RoleGateway is a connection that relays for outside MCP clients
	// (ainative mcp serve): it never sees secret context and can never
	// answer consent.
	RoleGateway = "gateway"
)

// HelloParams declares the connection's role.
type HelloParams struct {
	Role string `json:"role,omitempty"`
}

// Sensitivity of a context item.
const (
	Public  = "public"  // any local process may see it
	Private = "private" // its owner's processes (and whom the policy names)
	Secret  = "secret"  // its owner's processes only, never a remote model or a gateway
)

// PublishParams publishes a context item. TTL 0 means the bus default.
type PublishParams struct {
	Kind        string `json:"kind"`
	Text        string `json:"text"`
	Sensitivity string `json:"sensitivity,omitempty"`
	TTLSeconds  int64  `json:"ttlSeconds,omitempty"`
}

// PublishResult names the stored item.
type PublishResult struct {
	ID int64 `json:"id"`
}

// QueryParams asks for context: the most recent items, or with Text the
// most relevant to it (full-text ranking).
type QueryParams struct {
	Text  string   `json:"text,omitempty"`
	Kinds []string `json:"kinds,omitempty"`
	Limit int      `json:"limit,omitempty"`
}

// Item is a stored context item with its owner.
type Item struct {
	ID          int64     `json:"id"`
	Kind        string    `json:"kind"`
	Text        string    `json:"text"`
	Sensitivity string    `json:"sensitivity"`
	Owner       Identity  `json:"owner"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
}

// QueryResult holds the items the caller may see.
type QueryResult struct {
	Items []Item `json:"items"`
}

// Tool effects, from harmless to dangerous. Anything but read needs
// consent under the default policy.
const (
	EffectRead        = "read"
	EffectWrite       = "write"
	EffectDestructive = "destructive"
	EffectNetwork     = "network"
)

// ToolSpec describes a tool a process serves.
type ToolSpec struct {
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"inputSchema,omitempty"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	Effect       string          `json:"effect"`
}

// RegisterParams registers tools served by the calling connection.
type RegisterParams struct {
	Tools []ToolSpec `json:"tools"`
}

// ToolCallParams is a call the bus routes to the tool's provider, with the
// caller as the kernel reported it.
type ToolCallParams struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Caller    Identity        `json:"caller"`
}

// ToolResult is a tool's answer: text, and IsError when the tool failed.
type ToolResult struct {
	Text    string `json:"text"`
	IsError bool   `json:"isError,omitempty"`
}

// Risk is the command classifier's verdict shown with a consent request.
type Risk struct {
	Level   string   `json:"level"`
	Reasons []string `json:"reasons,omitempty"`
}

// ConsentRequest asks a person whether Caller may run Tool.
type ConsentRequest struct {
	ID        string          `json:"id"`
	Caller    Identity        `json:"caller"`
	Tool      string          `json:"tool"`
	Effect    string          `json:"effect"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Risk      *Risk           `json:"risk,omitempty"`
}

// ConsentAnswer is the person's answer.
type ConsentAnswer struct {
	Approve bool `json:"approve"`
}

// Audit decisions.
const (
	DecisionAllowed  = "allowed"
	DecisionDenied   = "denied"
	DecisionAsked    = "asked"
	DecisionApproved = "approved"
	DecisionRefused  = "refused"
	DecisionTimedOut = "timed-out"
	DecisionNoAgent  = "no-consent-path"
)

// AuditRecord is one line of the audit log.
type AuditRecord struct {
	Time     time.Time `json:"time"`
	Caller   Identity  `json:"caller"`
	Action   string    `json:"action"` // "tool", "context.read", "consent", ...
	Target   string    `json:"target,omitempty"`
	Decision string    `json:"decision"`
	Detail   string    `json:"detail,omitempty"`
}

// AuditQuery filters the audit log. A caller other than root sees only
// records about its own uid.
type AuditQuery struct {
	UID      *uint32   `json:"uid,omitempty"`
	Target   string    `json:"target,omitempty"`
	Decision string    `json:"decision,omitempty"`
	Since    time.Time `json:"since,omitzero"`
	Limit    int       `json:"limit,omitempty"`
}

// AuditResult holds matching records, oldest first.
type AuditResult struct {
	Records []AuditRecord `json:"records"`
}

// ChatMessage is one message of a chat.
type ChatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatParams asks the runtime for a chat answer on behalf of the caller.
// With Context set, the caller's most relevant context items are attached.
type ChatParams struct {
	Model    string        `json:"model"`
	Messages []ChatMessage `json:"messages"`
	Context  bool          `json:"context,omitempty"`
	// MaxTokens bounds the answer; 0 leaves it to the runtime.
	MaxTokens int `json:"maxTokens,omitempty"`
	// Temperature sets the sampling temperature (0: greedy, the same
	// answer every time); nil leaves it to the runtime.
	Temperature *float64 `json:"temperature,omitempty"`
}

// ChatResult is the model's answer.
type ChatResult struct {
	Message ChatMessage `json:"message"`
}
