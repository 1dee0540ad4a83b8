package config

import (
	"fmt"
	"strings"
)

// GatewayType is the network an IPsec connection's traffic uses, chosen
// when the connection is created and immutable afterwards (SPEC §2). The
// names follow the provider's "network type" of a transit-router
// attachment.
type GatewayType string

const (
	// GatewayPublic: IKE and ESP run over the Internet to the customer
	// gateway's public address. The default.
	GatewayPublic GatewayType = "public"
	// GatewayPrivate: IKE and ESP run over a private network (leased line,
	// another encrypted overlay), the customer gateway address is private.
	GatewayPrivate GatewayType = "private"
)

// String returns the configuration spelling.
func (g GatewayType) String() string { return string(g) }

// Valid reports whether g is public or private.
func (g GatewayType) Valid() bool { return g == GatewayPublic || g == GatewayPrivate }

// orGatewayType returns g, or the default public when empty.
func orGatewayType(g GatewayType) GatewayType {
	if g == "" {
		return GatewayPublic
	}
	return g
}

// TunnelMode is single- or dual-tunnel (SPEC §2).
type TunnelMode string

const (
	// TunnelSingle is one tunnel to one gateway address: the model of SPEC
	// §1–§2 and the only mode implemented. The default.
	TunnelSingle TunnelMode = "single"
	// TunnelDual is two tunnels to two gateway addresses in different zones,
	// each with its own IKE/IPsec/BGP/DPD settings. Recognised so that
	// configurations naming it get a clear "unsupported" error.
	TunnelDual TunnelMode = "dual"
)

// String returns the configuration spelling.
func (t TunnelMode) String() string { return string(t) }

// Valid reports whether t is single or dual.
func (t TunnelMode) Valid() bool { return t == TunnelSingle || t == TunnelDual }

// Payer says who pays a cross-account transit router's attachment and
// traffic-processing fees (SPEC §2). The connection's own instance and
// traffic fees always stay with its owner.
type Payer string

const (
	// PayerCENOwner bills the transit router's (CEN instance's) owner; the
	// default.
	PayerCENOwner Payer = "cen-owner"
	// PayerVPNOwner bills the connection's owner.
	PayerVPNOwner Payer = "vpn-owner"
)

// String returns the configuration spelling.
func (p Payer) String() string { return string(p) }

// Valid reports whether p is cen-owner or vpn-owner.
func (p Payer) Valid() bool { return p == PayerCENOwner || p == PayerVPNOwner }

// TransitRouter is a routing domain: a kernel route table into which
// attached connections publish what they reach (SPEC §2).
type TransitRouter struct {
	// ID is assigned by the store.
	ID string `yaml:"id,omitempty" json:"id,omitempty"`
	// Name is free text, at most 100 characters.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// AccountID owns the transit router; empty means the gateway's own
	// account. Another account's router needs an [Authorization].
	AccountID string `yaml:"account_id,omitempty" json:"account_id,omitempty"`
	// Zone, when set, is the only zone attachments may use.
	Zone string `yaml:"zone,omitempty" json:"zone,omitempty"`
	// RouteTable is the kernel routing table id (1–4294967295 except the
	// reserved 253 default, 254 main, 255 local).
	RouteTable int `yaml:"route_table" json:"route_table"`
}

// Attachment binds a connection to a transit router, in one zone, with one
// gateway type. A connection has at most one.
type Attachment struct {
	// ConnectionID is the attached connection (the attachment's key).
	ConnectionID string `yaml:"connection_id" json:"connection_id"`
	// TransitRouterID is the routing domain the connection publishes into;
	// immutable while attached.
	TransitRouterID string `yaml:"transit_router_id" json:"transit_router_id"`
	// Zone is the zone of the attachment; immutable while attached.
	Zone string `yaml:"zone" json:"zone"`
	// GatewayType must equal the connection's (empty: the connection's).
	GatewayType GatewayType `yaml:"gateway_type,omitempty" json:"gateway_type,omitempty"`
	// AccountID is the transit router's account (empty: own account).
	AccountID string `yaml:"account_id,omitempty" json:"account_id,omitempty"`
}

// Authorization grants another account's transit router (in CEN instance
// CENID) the right to attach a connection (SPEC §2).
type Authorization struct {
	// ConnectionID is the connection the grant is for.
	ConnectionID string `yaml:"connection_id" json:"connection_id"`
	// AccountID is the other account, owner of the transit router.
	AccountID string `yaml:"account_id" json:"account_id"`
	// CENID is the other account's CEN (network) instance.
	CENID string `yaml:"cen_id" json:"cen_id"`
	// Payer pays the transit router's attachment and traffic-processing
	// fees; defaults to cen-owner.
	Payer Payer `yaml:"payer,omitempty" json:"payer,omitempty"`
}

// EffectivePayer returns the payer, cen-owner when omitted.
func (a *Authorization) EffectivePayer() Payer {
	if a.Payer == "" {
		return PayerCENOwner
	}
	return a.Payer
}

// ApplyDefaults sets the payer to cen-owner when omitted.
func (a *Authorization) ApplyDefaults() { a.Payer = a.EffectivePayer() }

// maxIDLength bounds account, CEN, zone and resource ids.
const maxIDLength = 64

// validID checks an identifier: 1–64 characters of letters, digits, '-',
// '_' and '.'.
func validID(es *Errors, field, v string, required bool) {
	if v == "" {
		if required {
			es.add(field, RuleRequired, "required")
		}
		return
	}
	if len(v) > maxIDLength {
		es.add(field, RuleLength, fmt.Sprintf("at most %d characters", maxIDLength))
		return
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			es.add(field, RuleCharset, "use only letters, digits, '-', '_' and '.'")
			return
		}
	}
}

// Validate checks a transit router; prefix is the field path prefix.
func (t *TransitRouter) Validate(prefix string) Errors {
	var es Errors
	validName(&es, join(prefix, "name"), t.Name)
	validID(&es, join(prefix, "account_id"), t.AccountID, false)
	validID(&es, join(prefix, "zone"), t.Zone, false)
	switch rt := t.RouteTable; {
	case rt < 1 || int64(rt) > MaxASN:
		es.add(join(prefix, "route_table"), RuleRange, "kernel route table id must be 1–4294967295")
	case rt == 253 || rt == 254 || rt == 255:
		es.add(join(prefix, "route_table"), RuleReserved, "tables 253 (default), 254 (main) and 255 (local) are the kernel's; choose another id")
	}
	return es
}

// Validate checks an attachment request against its connection and transit
// router. conn's gateway type must match (it is fixed on the connection).
func (a *Attachment) Validate(prefix string, conn *Connection, tr *TransitRouter) Errors {
	var es Errors
	validID(&es, join(prefix, "connection_id"), a.ConnectionID, true)
	validID(&es, join(prefix, "transit_router_id"), a.TransitRouterID, true)
	validID(&es, join(prefix, "zone"), a.Zone, true)
	validID(&es, join(prefix, "account_id"), a.AccountID, false)
	if a.GatewayType != "" && !a.GatewayType.Valid() {
		es.add(join(prefix, "gateway_type"), RuleOneOf, "must be public or private")
	} else if conn != nil && orGatewayType(a.GatewayType) != orGatewayType(conn.GatewayType) {
		es.add(join(prefix, "gateway_type"), RuleImmutable, fmt.Sprintf(
			"the connection's gateway type is %s and cannot change; attach with gateway_type %s",
			orGatewayType(conn.GatewayType), orGatewayType(conn.GatewayType)))
	}
	if tr != nil {
		if tr.Zone != "" && a.Zone != "" && a.Zone != tr.Zone {
			es.add(join(prefix, "zone"), RuleOneOf, fmt.Sprintf("transit router %s serves zone %s only", tr.ID, tr.Zone))
		}
		if a.AccountID != tr.AccountID {
			es.add(join(prefix, "account_id"), RuleOneOf, fmt.Sprintf("must be the transit router's account %q", tr.AccountID))
		}
	}
	return es
}

// Validate checks a cross-account authorization request.
func (a *Authorization) Validate(prefix string) Errors {
	var es Errors
	validID(&es, join(prefix, "connection_id"), a.ConnectionID, true)
	validID(&es, join(prefix, "account_id"), a.AccountID, true)
	validID(&es, join(prefix, "cen_id"), a.CENID, true)
	if a.Payer != "" && !a.Payer.Valid() {
		es.add(join(prefix, "payer"), RuleOneOf, "must be cen-owner (the default) or vpn-owner")
	}
	return es
}

// ValidateAttachmentModify enforces SPEC §2 on a change to an existing
// attachment: transit router, zone and gateway type are immutable (detach
// and attach again instead).
func ValidateAttachmentModify(old, updated *Attachment) Errors {
	var es Errors
	if old.TransitRouterID != updated.TransitRouterID {
		es.add("transit_router_id", RuleImmutable, "the transit router of an attached connection cannot change; detach it first")
	}
	if old.Zone != updated.Zone {
		es.add("zone", RuleImmutable, "the zone of an attached connection cannot change; detach it first")
	}
	if orGatewayType(old.GatewayType) != orGatewayType(updated.GatewayType) {
		es.add("gateway_type", RuleImmutable, "the gateway type cannot change")
	}
	return es
}

// ValidateModify enforces SPEC §2 on a connection update. The gateway type
// is immutable whether or not the connection is attached; transit router
// and zone live on the [Attachment] ([ValidateAttachmentModify]). Every
// other field is modifiable in both states. attached is accepted so the rule
// table stays in one place if it grows. The new connection must still be
// validated with [Connection.Validate].
func ValidateModify(old, updated *Connection, attached bool) Errors {
	_ = attached // SPEC §2: the same connection fields are modifiable either way
	var es Errors
	if orGatewayType(old.GatewayType) != orGatewayType(updated.GatewayType) {
		es.add("gateway_type", RuleImmutable, fmt.Sprintf("the gateway type is fixed at creation (%s); create a new connection instead", orGatewayType(old.GatewayType)))
	}
	if updated.ID != "" && old.ID != "" && updated.ID != old.ID {
		es.add("id", RuleImmutable, "the id is assigned by the gateway and cannot change")
	}
	return es
}

// CanDelete allows deleting only unattached connections (SPEC §2).
func CanDelete(attached bool) error {
	if attached {
		return Errors{{Field: "transit_router_id", Rule: RuleAttached,
			Message: "the connection is attached to a transit router; detach it before deleting"}}
	}
	return nil
}

// CanAuthorize allows a cross-account authorization only while the
// connection is unattached (SPEC §2).
func CanAuthorize(attached bool) error {
	if attached {
		return Errors{{Field: "transit_router_id", Rule: RuleAttached,
			Message: "the connection is attached to a transit router; authorize another account only while it is unattached"}}
	}
	return nil
}

// CanRevoke allows revoking an authorization only after the other account's
// transit router has detached the connection (SPEC §2).
// attachedToThatAccount is true while the connection is attached to a
// transit router of the authorization's account.
func CanRevoke(attachedToThatAccount bool) error {
	if attachedToThatAccount {
		return Errors{{Field: "account_id", Rule: RuleAttached,
			Message: "that account's transit router still has the connection attached; it must detach it before the authorization can be revoked"}}
	}
	return nil
}

// CanAttach decides whether conn may be attached to tr. attached says the
// connection already has an attachment (a connection has at most one).
// ownerAccount is the connection owner's account ("" for the gateway's own);
// a transit router of any other account needs a matching authorization in
// auths (same account; CEN id too when cenID is given).
func CanAttach(attached bool, tr *TransitRouter, ownerAccount, cenID string, auths []Authorization) error {
	if attached {
		return Errors{{Field: "connection_id", Rule: RuleAttached,
			Message: "the connection is already attached to a transit router; detach it first"}}
	}
	if tr.AccountID == ownerAccount {
		return nil
	}
	for _, a := range auths {
		if a.AccountID == tr.AccountID && (cenID == "" || strings.EqualFold(a.CENID, cenID)) {
			return nil
		}
	}
	return Errors{{Field: "transit_router_id", Rule: RuleUnauthorized, Message: fmt.Sprintf(
		"transit router %s belongs to account %s, which has no authorization for this connection; authorize it first",
		tr.ID, tr.AccountID)}}
}

// CanDetach allows detaching only attached connections.
func CanDetach(attached bool) error {
	if !attached {
		return Errors{{Field: "transit_router_id", Rule: RuleNotAttached,
			Message: "the connection is not attached to a transit router"}}
	}
	return nil
}

// ValidatePayer checks a payer value ("" means the default cen-owner).
func ValidatePayer(p Payer) error {
	if p != "" && !p.Valid() {
		return Errors{{Field: "payer", Rule: RuleOneOf, Message: "must be cen-owner (the default) or vpn-owner"}}
	}
	return nil
}
