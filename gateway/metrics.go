package gateway

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/esp"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
)

// metrics holds the gateway's Prometheus series. Event-driven series are
// counters updated by the control loop; traffic and SA counts are read from
// the data plane and negotiator at scrape time (collector), so the hot path
// never touches Prometheus.
type metrics struct {
	up         *prometheus.GaugeVec
	rekeys     *prometheus.CounterVec
	failures   *prometheus.CounterVec
	dpdTimeout *prometheus.CounterVec
	healthUp   *prometheus.GaugeVec

	mu      sync.Mutex              // guards tunnels
	tunnels map[esp.TunnelID]string // tunnel → connection ID, for the collector
}

func newMetrics() *metrics {
	return &metrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ipsecgw_tunnel_up",
			Help: "1 when the connection has an established IKE SA and child SA, else 0.",
		}, []string{"connection"}),
		rekeys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ipsecgw_rekeys_total",
			Help: "Completed rekeys by SA kind (ike, child).",
		}, []string{"connection", "kind"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ipsecgw_negotiation_failures_total",
			Help: "IKE SAs that failed or went down, by reason.",
		}, []string{"connection", "reason"}),
		dpdTimeout: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ipsecgw_dpd_timeouts_total",
			Help: "Peers declared dead by dead peer detection.",
		}, []string{"connection"}),
		healthUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ipsecgw_health_check_up",
			Help: "1 while the connection's health-check target answers, 0 after it failed.",
		}, []string{"connection"}),
		tunnels: map[esp.TunnelID]string{},
	}
}

func (m *metrics) health(conn string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.healthUp.WithLabelValues(conn).Set(v)
}

func (m *metrics) state(conn, state string) {
	v := 0.0
	if state == api.StateEstablished {
		v = 1
	}
	m.up.WithLabelValues(conn).Set(v)
}

func (m *metrics) rekey(conn, kind string) { m.rekeys.WithLabelValues(conn, kind).Inc() }

func (m *metrics) down(conn, reason string) {
	m.failures.WithLabelValues(conn, reason).Inc()
	if reason == v2.ReasonDeadPeer.String() {
		m.dpdTimeout.WithLabelValues(conn).Inc()
	}
}

func (m *metrics) forget(conn string) {
	m.up.DeleteLabelValues(conn)
	m.rekeys.DeletePartialMatch(prometheus.Labels{"connection": conn})
	m.failures.DeletePartialMatch(prometheus.Labels{"connection": conn})
	m.dpdTimeout.DeleteLabelValues(conn)
	m.healthUp.DeleteLabelValues(conn)
	m.mu.Lock()
	for t, c := range m.tunnels {
		if c == conn {
			delete(m.tunnels, t)
		}
	}
	m.mu.Unlock()
}

func (m *metrics) tunnel(t esp.TunnelID, conn string) {
	m.mu.Lock()
	m.tunnels[t] = conn
	m.mu.Unlock()
}

// Register adds the gateway's series to reg.
func (g *Gateway) Register(reg prometheus.Registerer) error {
	m := g.metrics
	for _, c := range []prometheus.Collector{m.up, m.rekeys, m.failures, m.dpdTimeout, m.healthUp, &collector{g: g}} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

var (
	descBytes = prometheus.NewDesc("ipsecgw_tunnel_bytes_total",
		"Inner bytes carried by the connection's tunnel (in: decrypted from the peer; out: encrypted to it). Per connection, for billing.",
		[]string{"connection", "direction"}, nil)
	descPackets = prometheus.NewDesc("ipsecgw_tunnel_packets_total",
		"Inner packets carried by the connection's tunnel.", []string{"connection", "direction"}, nil)
	descDrops = prometheus.NewDesc("ipsecgw_tunnel_drops_total",
		"Packets dropped by the data plane, by reason.", []string{"connection", "reason"}, nil)
	descGlobalDrops = prometheus.NewDesc("ipsecgw_esp_drops_total",
		"Packets dropped by the data plane for every tunnel and none (unknown SPI, no policy), by reason.", []string{"reason"}, nil)
	descIKESAs = prometheus.NewDesc("ipsecgw_ike_sas",
		"IKE SAs of the connection.", []string{"connection"}, nil)
	descChildSAs = prometheus.NewDesc("ipsecgw_child_sas",
		"CHILD_SAs of the connection.", []string{"connection"}, nil)
)

// collector reads traffic and SA counts at scrape time.
type collector struct{ g *Gateway }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBytes, descPackets, descDrops, descGlobalDrops, descIKESAs, descChildSAs} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	g := c.g
	if g.dp == nil || g.ike == nil {
		return
	}
	st := g.dp.Stats()
	g.metrics.mu.Lock()
	names := make(map[esp.TunnelID]string, len(g.metrics.tunnels))
	for t, n := range g.metrics.tunnels {
		names[t] = n
	}
	g.metrics.mu.Unlock()
	for _, t := range st.Tunnels {
		conn, ok := names[t.ID]
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(t.BytesIn), conn, "in")
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(t.BytesOut), conn, "out")
		ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(t.PacketsIn), conn, "in")
		ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(t.PacketsOut), conn, "out")
		for r, n := range t.Drops {
			if n > 0 {
				ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(n), conn, esp.DropReason(r).String())
			}
		}
	}
	for r, n := range st.Drops {
		ch <- prometheus.MustNewConstMetric(descGlobalDrops, prometheus.CounterValue, float64(n), esp.DropReason(r).String())
	}
	ikeN, childN := map[string]int{}, map[string]int{}
	sas := g.ike.SAs()
	if g.ike1 != nil {
		sas = append(sas, g.ike1.SAs()...)
	}
	for _, sa := range sas {
		ikeN[sa.Peer]++
		childN[sa.Peer] += len(sa.Children)
	}
	for _, conn := range names {
		ch <- prometheus.MustNewConstMetric(descIKESAs, prometheus.GaugeValue, float64(ikeN[conn]), conn)
		ch <- prometheus.MustNewConstMetric(descChildSAs, prometheus.GaugeValue, float64(childN[conn]), conn)
	}
}
