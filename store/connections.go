package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ipsecgw/ipsecgw/config"
)

// Connection is a stored IPsec connection: its configuration (SPEC §1, with
// every default applied), its attachment if any, and the cross-account
// authorizations granted on it (SPEC §2). JSON flattens the configuration,
// so an API client sees {"id", "name", …, "attachment", "authorizations"}.
type Connection struct {
	config.Connection
	// Attachment is the transit router the connection is attached to; nil
	// while unattached.
	Attachment *config.Attachment `json:"attachment,omitempty"`
	// Authorizations are the other accounts allowed to attach the
	// connection, ordered by account ID.
	Authorizations []config.Authorization `json:"authorizations,omitempty"`
	// CreatedAt and UpdatedAt are set by the store (UTC).
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Attached reports whether the connection is attached to a transit router.
func (c *Connection) Attached() bool { return c.Attachment != nil }

// connRecord is the connections bucket's value.
type connRecord struct {
	Connection config.Connection `json:"connection"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
}

// ConflictError wraps rule violations that depend on the stored state rather
// than on the request alone (the connection is attached, the name is taken,
// the transit router still has attachments): the API answers 409 for them.
// Unwrap exposes the config.Errors.
type ConflictError struct{ Errs config.Errors }

// Error implements error.
func (e *ConflictError) Error() string { return "store: " + e.Errs.Error() }

// Unwrap returns the underlying field errors.
func (e *ConflictError) Unwrap() error { return e.Errs }

// conflict wraps a config rule error (nil stays nil).
func conflict(err error) error {
	if err == nil {
		return nil
	}
	var es config.Errors
	if errors.As(err, &es) {
		return &ConflictError{Errs: es}
	}
	return err
}

func notFound(kind, id string) error { return fmt.Errorf("%w: %s %s", ErrNotFound, kind, id) }

// prepare validates c and applies the §1 defaults. local_id stays empty when
// omitted: it means "the gateway's own address", resolved at run time
// (config.Connection.LocalIdentity), so a new daemon address applies to every
// connection that did not pin one.
func prepare(c config.Connection) (config.Connection, error) {
	n := c.Clone()
	if err := n.Validate("").Err(); err != nil {
		return config.Connection{}, err
	}
	n.ApplyDefaults("")
	return *n, nil
}

// checkName enforces unique non-empty names (apply matches connections by
// name). except is the ID of the connection being updated.
func checkName(b *bolt.Bucket, name, except string) error {
	if name == "" {
		return nil
	}
	var dup string
	err := b.ForEach(func(k, v []byte) error {
		if string(k) == except {
			return nil
		}
		var rec connRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("store: decode connection %s: %w", k, err)
		}
		if rec.Connection.Name == name {
			dup = string(k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if dup != "" {
		return &ConflictError{Errs: config.Errors{{Field: "name", Rule: config.RuleUnique,
			Message: fmt.Sprintf("connection %s is already named %q; names must be unique", dup, name)}}}
	}
	return nil
}

// CreateConnection validates c, applies its defaults, assigns an ID
// ("vco-" + 12 hex) and stores it. c.ID must be empty. A validation failure
// is returned as config.Errors and stores nothing.
func (s *Store) CreateConnection(c config.Connection) (*Connection, error) {
	if c.ID != "" {
		return nil, config.Errors{{Field: "id", Rule: config.RuleNotAllowed, Message: "the id is assigned by the gateway; omit it"}}
	}
	n, err := prepare(c)
	if err != nil {
		return nil, err
	}
	var out *Connection
	err = s.update(func(tx *bolt.Tx, ch *changes) error {
		b := tx.Bucket(bucketConnections)
		if err := checkName(b, n.Name, ""); err != nil {
			return err
		}
		id, err := s.uniqueID(b, "vco-")
		if err != nil {
			return err
		}
		n.ID = id
		now := s.now().UTC()
		rec := connRecord{Connection: n, CreatedAt: now, UpdatedAt: now}
		if err := put(b, id, rec); err != nil {
			return err
		}
		ch.add(KindConnection, OpCreate, id)
		out = &Connection{Connection: n, CreatedAt: now, UpdatedAt: now}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateConnection replaces connection id's configuration with c (defaults
// applied to omitted fields, as on create), enforcing the SPEC §2 modify
// rules against the stored state in the same transaction. c.ID may be empty
// or equal to id.
func (s *Store) UpdateConnection(id string, c config.Connection) (*Connection, error) {
	n, err := prepare(c)
	if err != nil {
		return nil, err
	}
	var out *Connection
	err = s.update(func(tx *bolt.Tx, ch *changes) error {
		b := tx.Bucket(bucketConnections)
		var rec connRecord
		if err := get(b, id, &rec); err != nil {
			if errors.Is(err, ErrNotFound) {
				return notFound("connection", id)
			}
			return err
		}
		att, err := attachmentOf(tx, id)
		if err != nil {
			return err
		}
		if err := conflict(config.ValidateModify(&rec.Connection, &n, att != nil).Err()); err != nil {
			return err
		}
		if err := checkName(b, n.Name, id); err != nil {
			return err
		}
		n.ID = id
		rec.Connection = n
		rec.UpdatedAt = s.now().UTC()
		if err := put(b, id, rec); err != nil {
			return err
		}
		ch.add(KindConnection, OpUpdate, id)
		out, err = assemble(tx, rec)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteConnection removes an unattached connection and the authorizations
// granted on it. An attached connection is a *ConflictError (SPEC §2).
func (s *Store) DeleteConnection(id string) error {
	return s.update(func(tx *bolt.Tx, ch *changes) error {
		b := tx.Bucket(bucketConnections)
		if b.Get([]byte(id)) == nil {
			return notFound("connection", id)
		}
		att, err := attachmentOf(tx, id)
		if err != nil {
			return err
		}
		if err := conflict(config.CanDelete(att != nil)); err != nil {
			return err
		}
		if err := b.Delete([]byte(id)); err != nil {
			return err
		}
		auths, err := authorizationsOf(tx, id)
		if err != nil {
			return err
		}
		ab := tx.Bucket(bucketAuthorizations)
		for _, a := range auths {
			if err := ab.Delete([]byte(authKey(id, a.AccountID))); err != nil {
				return err
			}
		}
		ch.add(KindConnection, OpDelete, id)
		return nil
	})
}

// GetConnection returns connection id with its attachment and
// authorizations.
func (s *Store) GetConnection(id string) (*Connection, error) {
	var out *Connection
	err := s.db.View(func(tx *bolt.Tx) error {
		var rec connRecord
		if err := get(tx.Bucket(bucketConnections), id, &rec); err != nil {
			if errors.Is(err, ErrNotFound) {
				return notFound("connection", id)
			}
			return err
		}
		var err error
		out, err = assemble(tx, rec)
		return err
	})
	return out, err
}

// ListConnections returns every connection ordered by ID.
func (s *Store) ListConnections() ([]*Connection, error) {
	var out []*Connection
	err := s.db.View(func(tx *bolt.Tx) error {
		return list(tx.Bucket(bucketConnections), func(k, v []byte) error {
			var rec connRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("store: decode connection %s: %w", k, err)
			}
			c, err := assemble(tx, rec)
			if err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	})
	return out, err
}

// assemble joins a connection record with its attachment and authorizations.
func assemble(tx *bolt.Tx, rec connRecord) (*Connection, error) {
	id := rec.Connection.ID
	att, err := attachmentOf(tx, id)
	if err != nil {
		return nil, err
	}
	auths, err := authorizationsOf(tx, id)
	if err != nil {
		return nil, err
	}
	return &Connection{
		Connection:     rec.Connection,
		Attachment:     att,
		Authorizations: auths,
		CreatedAt:      rec.CreatedAt,
		UpdatedAt:      rec.UpdatedAt,
	}, nil
}

// attachmentOf returns the connection's attachment, nil if unattached.
func attachmentOf(tx *bolt.Tx, connID string) (*config.Attachment, error) {
	var a config.Attachment
	err := get(tx.Bucket(bucketAttachments), connID, &a)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// authKey is the authorizations bucket key. "/" cannot occur in either part
// (config IDs allow letters, digits, '-', '_' and '.'), so the prefix
// "connID/" selects exactly one connection's authorizations.
func authKey(connID, accountID string) string { return connID + "/" + accountID }

// authorizationsOf returns the connection's authorizations ordered by
// account ID (the bucket's key order).
func authorizationsOf(tx *bolt.Tx, connID string) ([]config.Authorization, error) {
	var out []config.Authorization
	prefix := []byte(connID + "/")
	c := tx.Bucket(bucketAuthorizations).Cursor()
	for k, v := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, v = c.Next() {
		var a config.Authorization
		if err := json.Unmarshal(v, &a); err != nil {
			return nil, fmt.Errorf("store: decode authorization %s: %w", k, err)
		}
		out = append(out, a)
	}
	return out, nil
}
