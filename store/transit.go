package store

import (
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/ipsecgw/ipsecgw/config"
)

// RuleExists is the rule of a request that refers to a record that does not
// exist (attaching to an unknown transit router).
const RuleExists = "exists"

// TransitRouter is a stored transit router (routing domain, SPEC §2).
type TransitRouter struct {
	config.TransitRouter
	// Attachments lists the IDs of the connections attached to it.
	Attachments []string `json:"attachments,omitempty"`
}

// CreateTransitRouter validates tr, assigns an ID ("tr-" + 12 hex) and
// stores it.
func (s *Store) CreateTransitRouter(tr config.TransitRouter) (*TransitRouter, error) {
	if tr.ID != "" {
		return nil, config.Errors{{Field: "id", Rule: config.RuleNotAllowed, Message: "the id is assigned by the gateway; omit it"}}
	}
	if err := tr.Validate("").Err(); err != nil {
		return nil, err
	}
	var out *TransitRouter
	err := s.update(func(tx *bolt.Tx, ch *changes) error {
		b := tx.Bucket(bucketTransitRouters)
		id, err := s.uniqueID(b, "tr-")
		if err != nil {
			return err
		}
		tr.ID = id
		if err := put(b, id, tr); err != nil {
			return err
		}
		ch.add(KindTransitRouter, OpCreate, id)
		out = &TransitRouter{TransitRouter: tr}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteTransitRouter removes a transit router that no connection is
// attached to.
func (s *Store) DeleteTransitRouter(id string) error {
	return s.update(func(tx *bolt.Tx, ch *changes) error {
		b := tx.Bucket(bucketTransitRouters)
		if b.Get([]byte(id)) == nil {
			return notFound("transit router", id)
		}
		atts, err := attachedTo(tx, id)
		if err != nil {
			return err
		}
		if len(atts) > 0 {
			return &ConflictError{Errs: config.Errors{{Field: "id", Rule: config.RuleAttached,
				Message: fmt.Sprintf("%d connection(s) are attached (%s…); detach them first", len(atts), atts[0])}}}
		}
		if err := b.Delete([]byte(id)); err != nil {
			return err
		}
		ch.add(KindTransitRouter, OpDelete, id)
		return nil
	})
}

// GetTransitRouter returns transit router id with its attachments.
func (s *Store) GetTransitRouter(id string) (*TransitRouter, error) {
	var out *TransitRouter
	err := s.db.View(func(tx *bolt.Tx) error {
		var tr config.TransitRouter
		if err := get(tx.Bucket(bucketTransitRouters), id, &tr); err != nil {
			if errors.Is(err, ErrNotFound) {
				return notFound("transit router", id)
			}
			return err
		}
		atts, err := attachedTo(tx, id)
		out = &TransitRouter{TransitRouter: tr, Attachments: atts}
		return err
	})
	return out, err
}

// ListTransitRouters returns every transit router ordered by ID.
func (s *Store) ListTransitRouters() ([]*TransitRouter, error) {
	var out []*TransitRouter
	err := s.db.View(func(tx *bolt.Tx) error {
		return list(tx.Bucket(bucketTransitRouters), func(k, v []byte) error {
			var tr config.TransitRouter
			if err := json.Unmarshal(v, &tr); err != nil {
				return fmt.Errorf("store: decode transit router %s: %w", k, err)
			}
			atts, err := attachedTo(tx, tr.ID)
			if err != nil {
				return err
			}
			out = append(out, &TransitRouter{TransitRouter: tr, Attachments: atts})
			return nil
		})
	})
	return out, err
}

// attachedTo lists the connections attached to transit router trID. The
// attachments bucket is small (one entry per attached connection), so a scan
// is cheaper than keeping a second index consistent.
func attachedTo(tx *bolt.Tx, trID string) ([]string, error) {
	var out []string
	err := tx.Bucket(bucketAttachments).ForEach(func(k, v []byte) error {
		var a config.Attachment
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("store: decode attachment %s: %w", k, err)
		}
		if a.TransitRouterID == trID {
			out = append(out, string(k))
		}
		return nil
	})
	return out, err
}

// Attach attaches connection a.ConnectionID to transit router
// a.TransitRouterID in a.Zone (SPEC §2). An empty gateway type means the
// connection's own; an empty account ID means the transit router's. The
// connection must be unattached, the gateway type must be the connection's,
// and a transit router of another account needs an authorization for that
// account. Everything is checked in the transaction that writes.
func (s *Store) Attach(a config.Attachment) (*Connection, error) {
	var out *Connection
	err := s.update(func(tx *bolt.Tx, ch *changes) error {
		var rec connRecord
		if err := get(tx.Bucket(bucketConnections), a.ConnectionID, &rec); err != nil {
			if errors.Is(err, ErrNotFound) {
				return notFound("connection", a.ConnectionID)
			}
			return err
		}
		var tr config.TransitRouter
		if err := get(tx.Bucket(bucketTransitRouters), a.TransitRouterID, &tr); err != nil {
			if errors.Is(err, ErrNotFound) {
				return config.Errors{{Field: "transit_router_id", Rule: RuleExists,
					Message: fmt.Sprintf("transit router %q does not exist", a.TransitRouterID)}}
			}
			return err
		}
		if a.GatewayType == "" {
			a.GatewayType = rec.Connection.GatewayType
		}
		if a.AccountID == "" {
			a.AccountID = tr.AccountID
		}
		if err := a.Validate("", &rec.Connection, &tr).Err(); err != nil {
			return err
		}
		att, err := attachmentOf(tx, a.ConnectionID)
		if err != nil {
			return err
		}
		auths, err := authorizationsOf(tx, a.ConnectionID)
		if err != nil {
			return err
		}
		// The gateway's connections belong to its own account (""): see
		// config.TransitRouter.AccountID.
		if err := conflict(config.CanAttach(att != nil, &tr, "", "", auths)); err != nil {
			return err
		}
		if err := put(tx.Bucket(bucketAttachments), a.ConnectionID, a); err != nil {
			return err
		}
		ch.add(KindAttachment, OpCreate, a.ConnectionID)
		out, err = assemble(tx, rec)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Detach removes connection connID's attachment.
func (s *Store) Detach(connID string) (*Connection, error) {
	var out *Connection
	err := s.update(func(tx *bolt.Tx, ch *changes) error {
		var rec connRecord
		if err := get(tx.Bucket(bucketConnections), connID, &rec); err != nil {
			if errors.Is(err, ErrNotFound) {
				return notFound("connection", connID)
			}
			return err
		}
		att, err := attachmentOf(tx, connID)
		if err != nil {
			return err
		}
		if err := conflict(config.CanDetach(att != nil)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketAttachments).Delete([]byte(connID)); err != nil {
			return err
		}
		ch.add(KindAttachment, OpDelete, connID)
		out, err = assemble(tx, rec)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Authorize grants account a.AccountID (CEN a.CENID) the right to attach
// connection a.ConnectionID; allowed only while the connection is unattached
// (SPEC §2). Authorizing an account again replaces its CEN ID and payer.
func (s *Store) Authorize(a config.Authorization) (*Connection, error) {
	a.ApplyDefaults()
	if err := a.Validate("").Err(); err != nil {
		return nil, err
	}
	var out *Connection
	err := s.update(func(tx *bolt.Tx, ch *changes) error {
		var rec connRecord
		if err := get(tx.Bucket(bucketConnections), a.ConnectionID, &rec); err != nil {
			if errors.Is(err, ErrNotFound) {
				return notFound("connection", a.ConnectionID)
			}
			return err
		}
		att, err := attachmentOf(tx, a.ConnectionID)
		if err != nil {
			return err
		}
		if err := conflict(config.CanAuthorize(att != nil)); err != nil {
			return err
		}
		if err := put(tx.Bucket(bucketAuthorizations), authKey(a.ConnectionID, a.AccountID), a); err != nil {
			return err
		}
		ch.add(KindAuthorization, OpCreate, a.ConnectionID)
		out, err = assemble(tx, rec)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Revoke withdraws account accountID's authorization on connection connID;
// allowed only when no transit router of that account has the connection
// attached (SPEC §2).
func (s *Store) Revoke(connID, accountID string) (*Connection, error) {
	var out *Connection
	err := s.update(func(tx *bolt.Tx, ch *changes) error {
		var rec connRecord
		if err := get(tx.Bucket(bucketConnections), connID, &rec); err != nil {
			if errors.Is(err, ErrNotFound) {
				return notFound("connection", connID)
			}
			return err
		}
		ab := tx.Bucket(bucketAuthorizations)
		key := []byte(authKey(connID, accountID))
		if ab.Get(key) == nil {
			return notFound("authorization", authKey(connID, accountID))
		}
		att, err := attachmentOf(tx, connID)
		if err != nil {
			return err
		}
		if err := conflict(config.CanRevoke(att != nil && att.AccountID == accountID)); err != nil {
			return err
		}
		if err := ab.Delete(key); err != nil {
			return err
		}
		ch.add(KindAuthorization, OpDelete, connID)
		out, err = assemble(tx, rec)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
