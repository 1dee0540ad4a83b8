// Package api is ipsecgwd's management API: HTTP+JSON, served on a unix
// socket (mode 0600) and optionally on TCP with a bearer token. Routes are
// versioned under /v1; docs/api.md describes each one.
//
// Every request that changes state is one store transaction: the API
// answers 2xx only after the change is committed and fsync'd, and a rejected
// request (4xx, body {"error": {...}, "errors": [...]}) changes nothing.
// The rules themselves live in package config and are applied by package
// store inside the writing transaction.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/store"
)

// maxBody bounds request bodies; a connection is a few hundred bytes.
const maxBody = 1 << 20

// Options configures a Server.
type Options struct {
	// Store holds the configuration; required.
	Store *store.Store
	// Status answers GET /v1/status; nil means ConfiguredStatus.
	Status StatusProvider
	// Controller handles initiate/terminate; nil answers 501.
	Controller Controller
	// Logger receives request errors; nil discards.
	Logger *slog.Logger
	// Registerer receives the request metrics; nil skips registration.
	Registerer prometheus.Registerer
	// Token is the bearer token TCPHandler requires.
	Token string
	// GatewayAddress is reported by GET /v1/info and the default status.
	GatewayAddress string
	// Version is reported by GET /v1/info.
	Version string
}

// Server serves the API. Create it with New.
type Server struct {
	store   *store.Store
	status  StatusProvider
	ctl     Controller
	log     *slog.Logger
	token   string
	gwAddr  string
	version string
	metrics *metrics
	mux     *http.ServeMux
}

// New builds a Server and its route table.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("api: no store")
	}
	s := &Server{
		store:   opts.Store,
		status:  opts.Status,
		ctl:     opts.Controller,
		log:     opts.Logger,
		token:   opts.Token,
		gwAddr:  opts.GatewayAddress,
		version: opts.Version,
		metrics: newMetrics(opts.Registerer),
		mux:     http.NewServeMux(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.status == nil {
		s.status = ConfiguredStatus{Store: opts.Store, GatewayAddress: opts.GatewayAddress}
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	s.handle("GET /v1/info", s.getInfo)
	s.handle("GET /v1/status", s.getStatus)

	s.handle("GET /v1/connections", s.listConnections)
	s.handle("POST /v1/connections", s.createConnection)
	s.handle("GET /v1/connections/{id}", s.getConnection)
	s.handle("PUT /v1/connections/{id}", s.replaceConnection)
	s.handle("DELETE /v1/connections/{id}", s.deleteConnection)
	s.handle("POST /v1/connections/{id}/attach", s.attach)
	s.handle("POST /v1/connections/{id}/detach", s.detach)
	s.handle("POST /v1/connections/{id}/authorizations", s.authorize)
	s.handle("DELETE /v1/connections/{id}/authorizations/{account_id}", s.revoke)
	s.handle("POST /v1/connections/{id}/initiate", s.control("initiate"))
	s.handle("POST /v1/connections/{id}/terminate", s.control("terminate"))

	s.handle("GET /v1/transit-routers", s.listTransitRouters)
	s.handle("POST /v1/transit-routers", s.createTransitRouter)
	s.handle("GET /v1/transit-routers/{id}", s.getTransitRouter)
	s.handle("DELETE /v1/transit-routers/{id}", s.deleteTransitRouter)
}

// ServeHTTP dispatches to the route table. Requests no route matches get the
// JSON error body too: 404 for an unknown path, 405 (with Allow) for a known
// path with the wrong method.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		// The mux itself sets the {id} path values; h alone would not.
		s.mux.ServeHTTP(w, r)
		return
	}
	probe := &headerProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if allow := probe.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	code := probe.code
	rule := RuleNotFound
	if code == http.StatusMethodNotAllowed {
		rule = "method_not_allowed"
	} else {
		code = http.StatusNotFound
	}
	s.metrics.requests.WithLabelValues("unmatched", strconv.Itoa(code)).Inc()
	writeError(w, code, ErrorDetail{Rule: rule, Message: fmt.Sprintf("no route %s %s", r.Method, r.URL.Path)})
}

// headerProbe captures the status and headers of the mux's own 404/405
// answer so ServeHTTP can rewrite it as JSON.
type headerProbe struct {
	header http.Header
	code   int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(code int)        { p.code = code }

func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.metrics.instrument(pattern, h))
}

// Handler returns the unauthenticated handler, for the unix socket (whose
// 0600 mode is the access control).
func (s *Server) Handler() http.Handler { return s }

// TCPHandler returns the handler for TCP listeners: every request needs
// "Authorization: Bearer <token>"; with no token configured every request is
// refused.
func (s *Server) TCPHandler() http.Handler { return requireBearer(s.token, s) }

// Serve serves the API on l until ctx is done. Unix listeners get Handler,
// every other listener TCPHandler.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	h := s.TCPHandler()
	if l.Addr().Network() == "unix" {
		h = s.Handler()
	}
	err := serveHTTP(ctx, l, h)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// showSecrets reports whether the request asked for pre-shared keys.
func showSecrets(r *http.Request) bool {
	v := r.URL.Query().Get("show_secrets")
	return v == "true" || v == "1"
}

// present prepares a stored connection for a response: the PSK is replaced
// by "********" unless the caller asked for secrets.
func present(c *store.Connection, secrets bool) *store.Connection {
	if secrets {
		return c
	}
	n := *c
	n.Connection = *c.Connection.Redacted()
	return &n
}

// decode reads a JSON body into v strictly: unknown fields, trailing data,
// wrong types and oversized bodies are rejected with a field-naming error.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.More() || dec.Decode(&struct{}{}) != io.EOF {
			err = errors.New("unexpected data after the JSON object")
		}
	}
	if err == nil {
		return true
	}
	writeError(w, http.StatusBadRequest, decodeError(err))
	return false
}

// decodeConfig reads a JSON body into v, a config struct (connection,
// transit router), with config.Decode: unlike encoding/json it reports every
// unknown key, duplicate key and wrong type at once, each with its full key
// path ("ike.colour"), exactly as the connections file is checked. The body
// must still be one JSON object: config.Decode would accept YAML too.
func decodeConfig(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, decodeError(err))
		return false
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		writeError(w, http.StatusBadRequest, decodeError(io.EOF))
		return false
	}
	if !json.Valid(trimmed) {
		var probe any
		err := json.Unmarshal(trimmed, &probe)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		writeError(w, http.StatusBadRequest, decodeError(err))
		return false
	}
	if trimmed[0] != '{' {
		writeError(w, http.StatusBadRequest, ErrorDetail{Rule: config.RuleType, Message: "the request body must be a JSON object"})
		return false
	}
	if err := config.Decode(trimmed, v); err != nil {
		if details, ok := fieldErrors(err); ok {
			writeError(w, http.StatusBadRequest, details...)
		} else {
			writeError(w, http.StatusBadRequest, ErrorDetail{Rule: RuleInvalidJSON, Message: err.Error()})
		}
		return false
	}
	return true
}

// decodeError turns an encoding/json error into a detail naming the field.
func decodeError(err error) ErrorDetail {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &te):
		return ErrorDetail{Field: te.Field, Rule: config.RuleType, Message: fmt.Sprintf("expected %s, got JSON %s", te.Type, te.Value)}
	case errors.As(err, &se):
		return ErrorDetail{Rule: config.RuleSyntax, Message: fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)}
	case errors.As(err, &mbe):
		return ErrorDetail{Rule: config.RuleLength, Message: fmt.Sprintf("request body larger than %d bytes", mbe.Limit)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ErrorDetail{Rule: config.RuleSyntax, Message: "invalid JSON: unexpected end of the request body"}
	case errors.Is(err, io.EOF):
		return ErrorDetail{Rule: config.RuleRequired, Message: "empty request body; send a JSON object"}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return ErrorDetail{Field: f, Rule: config.RuleUnknownKey, Message: fmt.Sprintf("unknown field %q", f)}
	}
	return ErrorDetail{Rule: RuleInvalidJSON, Message: strings.TrimPrefix(msg, "json: ")}
}
