package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/store"
)

// ErrorDetail is one reason a request was rejected: the field path it
// concerns (empty when it concerns the request as a whole), the rule that was
// broken (a stable machine-readable word such as "required", "range",
// "immutable-when-attached", "attached") and a human-readable message.
type ErrorDetail struct {
	Field   string `json:"field,omitempty"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// String formats the detail the way the CLI prints it:
// "bgp.tunnel_cidr: must be a /30 (cidr-30)".
func (d ErrorDetail) String() string {
	if d.Field == "" {
		return fmt.Sprintf("%s (%s)", d.Message, d.Rule)
	}
	return fmt.Sprintf("%s: %s (%s)", d.Field, d.Message, d.Rule)
}

// ErrorResponse is the body of every 4xx/5xx answer. Error is the first
// problem (kept for clients that show one line); Errors lists all of them.
type ErrorResponse struct {
	Error  ErrorDetail   `json:"error"`
	Errors []ErrorDetail `json:"errors"`
}

// Error is a rejected request as the client sees it: the HTTP status and the
// decoded error body. It implements error.
type Error struct {
	Status  int
	Details []ErrorDetail
}

// Error joins the details, one per line.
func (e *Error) Error() string {
	if len(e.Details) == 0 {
		return fmt.Sprintf("api: HTTP %d", e.Status)
	}
	lines := make([]string, len(e.Details))
	for i, d := range e.Details {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// writeJSON writes v with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // PSK-charset messages contain & < >
	_ = enc.Encode(v)
}

// writeError writes an ErrorResponse carrying details.
func writeError(w http.ResponseWriter, code int, details ...ErrorDetail) {
	if len(details) == 0 {
		details = []ErrorDetail{{Rule: "error", Message: http.StatusText(code)}}
	}
	writeJSON(w, code, ErrorResponse{Error: details[0], Errors: details})
}

// Rule words used by the API itself (the connection rules' words come from
// package config).
const (
	RuleNotFound     = "not-found"
	RuleInvalidJSON  = "invalid-json"
	RuleUnknownField = "unknown-field"
	RuleInternal     = "internal"
	RuleUnsupported  = "not-implemented"
)

// fieldErrors converts a config validation error (a single FieldError or an
// Errors list) to details. ok is false if err is neither.
func fieldErrors(err error) (details []ErrorDetail, ok bool) {
	var list config.Errors
	if errors.As(err, &list) {
		for _, fe := range list {
			details = append(details, ErrorDetail{Field: fe.Field, Rule: fe.Rule, Message: fe.Message})
		}
		return details, len(details) > 0
	}
	var fe config.FieldError
	if errors.As(err, &fe) {
		return []ErrorDetail{{Field: fe.Field, Rule: fe.Rule, Message: fe.Message}}, true
	}
	return nil, false
}

// writeStoreError maps a store or validation error to a response: 404 for a
// missing record, 409 for a rule that depends on the record's state
// (attached, authorized, name taken), 400 for invalid input, 500 otherwise.
func (s *Server) writeStoreError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, ErrorDetail{Rule: RuleNotFound, Message: err.Error()})
		return
	}
	if details, ok := fieldErrors(err); ok {
		code := http.StatusBadRequest
		var ce *store.ConflictError
		if errors.As(err, &ce) {
			code = http.StatusConflict
		}
		writeError(w, code, details...)
		return
	}
	s.log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, ErrorDetail{Rule: RuleInternal, Message: err.Error()})
}
