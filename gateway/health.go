package gateway

import (
	"context"
	"net/netip"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/healthcheck"
)

// Health checks (SPEC §1, Health check): while a connection's tunnel is
// up, an ICMP prober pings the configured on-premises address from the
// configured cloud-side source through the tunnel. After `retries` failed
// probes the connection is unhealthy and, with switch_route, the routes it
// published are withdrawn (re-published once a probe is answered again) —
// all but a host route to the probe target, so the probes still reach the
// tunnel and notice the recovery.

// health is a running health check. Owned by run.
type health struct {
	cancel  context.CancelFunc
	checker *healthcheck.Checker
	dst     netip.Addr
	up      *bool // nil until the first verdict
}

// syncHealth starts c's health check while its tunnel is established and
// stops it otherwise (or when the configuration changes).
func (g *Gateway) syncHealth(c *conn) {
	hc := c.cfg.HealthCheck
	want := hc.Enabled && !c.removed && c.state == api.StateEstablished && !g.cfg.NoHealthChecks
	dst, err1 := netip.ParseAddr(hc.DestinationIP)
	src, err2 := netip.ParseAddr(hc.SourceIP)
	if err1 != nil || err2 != nil {
		want = false
	}
	if c.health != nil && (!want || c.health.dst != dst) {
		c.health.cancel()
		c.health = nil
	}
	if !want || c.health != nil {
		return
	}
	h := &health{dst: dst}
	ch, err := healthcheck.New(healthcheck.Config{
		Destination: dst, Source: src,
		Interval: time.Duration(hc.IntervalSeconds()) * time.Second,
		Retries:  hc.RetryCount(),
		Logger:   g.log.With("component", "healthcheck", "conn", c.id),
	}, func(up bool) {
		g.do(func() {
			if c.health != h {
				return // a stopped checker's last word
			}
			h.up = &up
			g.log.Info("health check", "conn", c.id, "up", up, "switch_route", hc.SwitchRouteEnabled())
			g.metrics.health(c.id, up)
			g.syncRoutes(c)
		})
	})
	if err != nil {
		g.log.Warn("health check", "conn", c.id, "err", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.checker = cancel, ch
	c.health = h
	go ch.Run(ctx)
}

// healthy reports whether c's routes may be published: no health check,
// no verdict yet, the target answers, or switch_route is off.
func (c *conn) healthy() bool {
	if c.health == nil || c.health.up == nil || *c.health.up {
		return true
	}
	return !c.cfg.HealthCheck.SwitchRouteEnabled()
}

// healthState reports c's health-check state for status ("" when off).
func (c *conn) healthState() string {
	switch {
	case !c.cfg.HealthCheck.Enabled:
		return ""
	case c.health == nil:
		return "inactive"
	case c.health.up == nil:
		return "probing"
	case *c.health.up:
		return "up"
	}
	return "down"
}
