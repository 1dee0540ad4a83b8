package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/store"
)

func secretsQuery(secrets bool) url.Values {
	if !secrets {
		return nil
	}
	return url.Values{"show_secrets": {"true"}}
}

func path(parts ...string) string {
	p := "/v1"
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// Info returns the daemon's version, gateway address and schema version.
func (c *Client) Info(ctx context.Context) (*api.Info, error) {
	var out api.Info
	return &out, c.do(ctx, http.MethodGet, path("info"), nil, nil, &out)
}

// Status returns every connection with its SAs.
func (c *Client) Status(ctx context.Context) (*api.Status, error) {
	var out api.Status
	return &out, c.do(ctx, http.MethodGet, path("status"), nil, nil, &out)
}

// ListConnections returns every connection; PSKs are redacted unless
// secrets is true.
func (c *Client) ListConnections(ctx context.Context, secrets bool) ([]*store.Connection, error) {
	var out api.ConnectionList
	err := c.do(ctx, http.MethodGet, path("connections"), secretsQuery(secrets), nil, &out)
	return out.Connections, err
}

// GetConnection returns one connection.
func (c *Client) GetConnection(ctx context.Context, id string, secrets bool) (*store.Connection, error) {
	var out store.Connection
	return &out, c.do(ctx, http.MethodGet, path("connections", id), secretsQuery(secrets), nil, &out)
}

// CreateConnection creates a connection; the answer carries its ID,
// effective (defaulted) configuration with the PSK redacted, and warnings.
func (c *Client) CreateConnection(ctx context.Context, conn *config.Connection) (*api.ConnectionResult, error) {
	var out api.ConnectionResult
	return &out, c.do(ctx, http.MethodPost, path("connections"), nil, conn, &out)
}

// ReplaceConnection replaces connection id's configuration (PUT; omitted
// fields take their defaults).
func (c *Client) ReplaceConnection(ctx context.Context, id string, conn *config.Connection) (*api.ConnectionResult, error) {
	var out api.ConnectionResult
	return &out, c.do(ctx, http.MethodPut, path("connections", id), nil, conn, &out)
}

// DeleteConnection deletes an unattached connection.
func (c *Client) DeleteConnection(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, path("connections", id), nil, nil, nil)
}

// Attach attaches connection id to a transit router.
func (c *Client) Attach(ctx context.Context, id string, req api.AttachRequest) (*store.Connection, error) {
	var out store.Connection
	return &out, c.do(ctx, http.MethodPost, path("connections", id, "attach"), nil, req, &out)
}

// Detach detaches connection id from its transit router.
func (c *Client) Detach(ctx context.Context, id string) (*store.Connection, error) {
	var out store.Connection
	return &out, c.do(ctx, http.MethodPost, path("connections", id, "detach"), nil, struct{}{}, &out)
}

// Authorize grants another account's transit router the right to attach
// connection id.
func (c *Client) Authorize(ctx context.Context, id string, req api.AuthorizeRequest) (*store.Connection, error) {
	var out store.Connection
	return &out, c.do(ctx, http.MethodPost, path("connections", id, "authorizations"), nil, req, &out)
}

// Revoke withdraws account's authorization on connection id.
func (c *Client) Revoke(ctx context.Context, id, account string) (*store.Connection, error) {
	var out store.Connection
	return &out, c.do(ctx, http.MethodDelete, path("connections", id, "authorizations", account), nil, nil, &out)
}

// Initiate asks the gateway to start negotiating connection id.
func (c *Client) Initiate(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, path("connections", id, "initiate"), nil, struct{}{}, nil)
}

// Terminate asks the gateway to tear connection id's SAs down.
func (c *Client) Terminate(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, path("connections", id, "terminate"), nil, struct{}{}, nil)
}

// ListTransitRouters returns every transit router.
func (c *Client) ListTransitRouters(ctx context.Context) ([]*store.TransitRouter, error) {
	var out api.TransitRouterList
	err := c.do(ctx, http.MethodGet, path("transit-routers"), nil, nil, &out)
	return out.TransitRouters, err
}

// GetTransitRouter returns one transit router.
func (c *Client) GetTransitRouter(ctx context.Context, id string) (*store.TransitRouter, error) {
	var out store.TransitRouter
	return &out, c.do(ctx, http.MethodGet, path("transit-routers", id), nil, nil, &out)
}

// CreateTransitRouter creates a transit router.
func (c *Client) CreateTransitRouter(ctx context.Context, tr *config.TransitRouter) (*store.TransitRouter, error) {
	var out store.TransitRouter
	return &out, c.do(ctx, http.MethodPost, path("transit-routers"), nil, tr, &out)
}

// DeleteTransitRouter deletes a transit router no connection is attached to.
func (c *Client) DeleteTransitRouter(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, path("transit-routers", id), nil, nil, nil)
}
