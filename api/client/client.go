// Package client is the Go client of the ipsecgwd HTTP+JSON API, used by the
// ipsecgw command-line tool and by tests. It speaks to a unix socket
// ("unix:///run/ipsecgw/api.sock") or to TCP ("http://127.0.0.1:9811", with a
// bearer token).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
)

// Client talks to one daemon. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// Option adjusts a Client.
type Option func(*Client)

// WithToken sends "Authorization: Bearer token" (needed on TCP).
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient replaces the HTTP client (tests use httptest's).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// New returns a client for address (see api.ParseEndpoint for the forms).
func New(address string, opts ...Option) (*Client, error) {
	ep, err := api.ParseEndpoint(address)
	if err != nil {
		return nil, err
	}
	c := &Client{}
	tr := &http.Transport{
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	if ep.Network == "unix" {
		path := ep.Address
		c.base = "http://ipsecgwd"
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	} else {
		c.base = "http://" + ep.Address
	}
	c.http = &http.Client{Transport: tr, Timeout: 60 * time.Second}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// UnreachableError reports that the daemon could not be reached at all (no
// socket, connection refused, timeout): the CLI exits 3 for it.
type UnreachableError struct{ Err error }

func (e *UnreachableError) Error() string { return "client: daemon unreachable: " + e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// IsUnreachable reports whether err is an UnreachableError.
func IsUnreachable(err error) bool {
	var u *UnreachableError
	return errors.As(err, &u)
}

// do sends a request with an optional JSON body and decodes a 2xx JSON answer
// into out (if non-nil). A non-2xx answer becomes *api.Error.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("client: encode request: %w", err)
		}
		rd = bytes.NewReader(raw)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("client: %w", ctx.Err())
		}
		return &UnreachableError{Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("client: read response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var er api.ErrorResponse
		if json.Unmarshal(raw, &er) != nil || len(er.Errors) == 0 && er.Error.Message == "" {
			return &api.Error{Status: resp.StatusCode, Details: []api.ErrorDetail{{
				Rule: "http", Message: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(raw)),
			}}}
		}
		if len(er.Errors) == 0 {
			er.Errors = []api.ErrorDetail{er.Error}
		}
		return &api.Error{Status: resp.StatusCode, Details: er.Errors}
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("client: decode response: %w", err)
	}
	return nil
}
