package api

import (
	"net/http"

	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/store"
)

// AttachRequest is the body of POST /v1/connections/{id}/attach.
type AttachRequest struct {
	TransitRouterID string             `json:"transit_router_id"`
	Zone            string             `json:"zone"`
	GatewayType     config.GatewayType `json:"gateway_type,omitempty"`
}

// AuthorizeRequest is the body of POST /v1/connections/{id}/authorizations.
type AuthorizeRequest struct {
	AccountID string       `json:"account_id"`
	CENID     string       `json:"cen_id"`
	Payer     config.Payer `json:"payer,omitempty"`
}

// ConnectionResult is the body of a successful create or replace: the
// stored connection plus the warnings (allowed but discouraged settings such
// as des or md5) its configuration earned.
type ConnectionResult struct {
	store.Connection
	Warnings []ErrorDetail `json:"warnings,omitempty"`
}

// result wraps a stored connection with its warnings.
func result(c *store.Connection) *ConnectionResult {
	out := &ConnectionResult{Connection: *c}
	for _, w := range c.Connection.Warnings("") {
		out.Warnings = append(out.Warnings, ErrorDetail{Field: w.Field, Rule: w.Rule, Message: w.Message})
	}
	return out
}

// ConnectionList is the body of GET /v1/connections.
type ConnectionList struct {
	Connections []*store.Connection `json:"connections"`
}

// TransitRouterList is the body of GET /v1/transit-routers.
type TransitRouterList struct {
	TransitRouters []*store.TransitRouter `json:"transit_routers"`
}

// Info is the body of GET /v1/info.
type Info struct {
	Version        string `json:"version,omitempty"`
	GatewayAddress string `json:"gateway_address,omitempty"`
	SchemaVersion  int    `json:"schema_version"`
}

// ActionResult is the body of a successful initiate/terminate.
type ActionResult struct {
	ID     string `json:"id"`
	Action string `json:"action"`
}

func (s *Server) getInfo(w http.ResponseWriter, r *http.Request) {
	v, err := s.store.SchemaVersion()
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Info{Version: s.version, GatewayAddress: s.gwAddr, SchemaVersion: v})
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.status.Status(r.Context())
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) listConnections(w http.ResponseWriter, r *http.Request) {
	conns, err := s.store.ListConnections()
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	secrets := showSecrets(r)
	out := ConnectionList{Connections: make([]*store.Connection, 0, len(conns))}
	for _, c := range conns {
		out.Connections = append(out.Connections, present(c, secrets))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createConnection(w http.ResponseWriter, r *http.Request) {
	var c config.Connection
	if !decodeConfig(w, r, &c) {
		return
	}
	got, err := s.store.CreateConnection(c)
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/connections/"+got.ID)
	writeJSON(w, http.StatusCreated, result(present(got, showSecrets(r))))
}

func (s *Server) getConnection(w http.ResponseWriter, r *http.Request) {
	got, err := s.store.GetConnection(r.PathValue("id"))
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, present(got, showSecrets(r)))
}

// replaceConnection is PUT: the body is the complete new configuration;
// omitted fields take their defaults, exactly as on create.
func (s *Server) replaceConnection(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var c config.Connection
	if !decodeConfig(w, r, &c) {
		return
	}
	if c.ID != "" && c.ID != id {
		writeError(w, http.StatusBadRequest, ErrorDetail{Field: "id", Rule: config.RuleImmutable,
			Message: "the body's id " + c.ID + " differs from the URL's " + id})
		return
	}
	got, err := s.store.UpdateConnection(id, c)
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, result(present(got, showSecrets(r))))
}

func (s *Server) deleteConnection(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeleteConnection(r.PathValue("id")); err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) attach(w http.ResponseWriter, r *http.Request) {
	var req AttachRequest
	if !decode(w, r, &req) {
		return
	}
	got, err := s.store.Attach(config.Attachment{
		ConnectionID:    r.PathValue("id"),
		TransitRouterID: req.TransitRouterID,
		Zone:            req.Zone,
		GatewayType:     req.GatewayType,
	})
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, present(got, showSecrets(r)))
}

func (s *Server) detach(w http.ResponseWriter, r *http.Request) {
	got, err := s.store.Detach(r.PathValue("id"))
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, present(got, showSecrets(r)))
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	var req AuthorizeRequest
	if !decode(w, r, &req) {
		return
	}
	got, err := s.store.Authorize(config.Authorization{
		ConnectionID: r.PathValue("id"),
		AccountID:    req.AccountID,
		CENID:        req.CENID,
		Payer:        req.Payer,
	})
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, present(got, showSecrets(r)))
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	got, err := s.store.Revoke(r.PathValue("id"), r.PathValue("account_id"))
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, present(got, showSecrets(r)))
}

// control forwards initiate/terminate to the Controller after checking that
// the connection exists.
func (s *Server) control(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if _, err := s.store.GetConnection(id); err != nil {
			s.writeStoreError(w, r, err)
			return
		}
		if s.ctl == nil {
			writeError(w, http.StatusNotImplemented, ErrorDetail{Rule: RuleUnsupported,
				Message: action + " is not available: this daemon runs no gateway controller"})
			return
		}
		var err error
		if action == "initiate" {
			err = s.ctl.Initiate(r.Context(), id)
		} else {
			err = s.ctl.Terminate(r.Context(), id)
		}
		if err != nil {
			s.writeStoreError(w, r, err)
			return
		}
		writeJSON(w, http.StatusAccepted, ActionResult{ID: id, Action: action})
	}
}

func (s *Server) listTransitRouters(w http.ResponseWriter, r *http.Request) {
	trs, err := s.store.ListTransitRouters()
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	if trs == nil {
		trs = []*store.TransitRouter{}
	}
	writeJSON(w, http.StatusOK, TransitRouterList{TransitRouters: trs})
}

func (s *Server) createTransitRouter(w http.ResponseWriter, r *http.Request) {
	var tr config.TransitRouter
	if !decodeConfig(w, r, &tr) {
		return
	}
	got, err := s.store.CreateTransitRouter(tr)
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/transit-routers/"+got.ID)
	writeJSON(w, http.StatusCreated, got)
}

func (s *Server) getTransitRouter(w http.ResponseWriter, r *http.Request) {
	got, err := s.store.GetTransitRouter(r.PathValue("id"))
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, got)
}

func (s *Server) deleteTransitRouter(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeleteTransitRouter(r.PathValue("id")); err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
