// Package store is ipsecgw's embedded persistent store: the connections,
// transit routers, attachments and cross-account authorizations that the API
// manages, kept in a bbolt database inside the daemon's state_dir.
//
// Durability: every mutating method is exactly one bbolt read-write
// transaction, and bbolt fsyncs the file on commit (NoSync stays false). A
// method returns nil only after that commit, so the API acknowledges only
// changes that are on disk, and a crash (even SIGKILL) between two writes
// leaves either the old or the new state, never half of a change.
//
// Rules: the operation rules of SPEC §2 (immutable fields while attached,
// delete only while unattached, authorize only while unattached, revoke only
// after the other account detached, cross-account attach only when
// authorized) are checked inside the same transaction that writes, so the
// check and the write are atomic with respect to concurrent requests.
//
// Changes are announced to subscribers after commit (see Subscribe) so the
// gateway can reconcile its running tunnels with the stored configuration.
package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout version written to the meta bucket. Open
// migrates older databases forward (see migrations) and refuses newer ones.
const SchemaVersion = 1

// FileName is the database file's name inside the state directory.
const FileName = "ipsecgw.db"

// Bucket names. Every record is JSON keyed by its ID (authorizations by
// "connectionID/accountID", attachments by connection ID).
var (
	bucketMeta           = []byte("meta")
	bucketConnections    = []byte("connections")
	bucketTransitRouters = []byte("transit_routers")
	bucketAttachments    = []byte("attachments")
	bucketAuthorizations = []byte("authorizations")

	keySchemaVersion = []byte("schema_version")

	allBuckets = [][]byte{bucketMeta, bucketConnections, bucketTransitRouters, bucketAttachments, bucketAuthorizations}
)

// ErrNotFound reports that the addressed record does not exist. API handlers
// map it to 404.
var ErrNotFound = errors.New("store: not found")

// Options configures Open. The zero value is usable.
type Options struct {
	// Logger receives store events; nil discards them.
	Logger *slog.Logger
	// Rand is the source of ID randomness; nil means crypto/rand.
	Rand io.Reader
	// Now is the clock stamped into records; nil means time.Now.
	Now func() time.Time
	// OnChange, if set, is subscribed at Open (see Subscribe).
	OnChange func(Change)
	// LockTimeout bounds the wait for the database file lock held by another
	// process; zero means 5 s. A second daemon on the same state_dir fails
	// instead of hanging.
	LockTimeout time.Duration
	// AccountID is the account that owns this gateway's connections. A
	// transit router with a different non-empty AccountID belongs to another
	// account and needs an authorization before it may attach a connection.
	AccountID string
}

// Store is the open database. Its methods are safe for concurrent use.
type Store struct {
	db        *bolt.DB
	log       *slog.Logger
	rand      io.Reader
	now       func() time.Time
	accountID string

	// mu guards subs.
	mu   sync.Mutex
	subs map[int]*subscriber
	next int
}

// Open opens (creating if needed) the store in dir. The directory is created
// with mode 0700 and the database file with mode 0600: it holds pre-shared
// keys. Open fails if the on-disk schema is newer than SchemaVersion.
func Open(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("store: empty state directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create state directory: %w", err)
	}
	// MkdirAll leaves an existing directory's mode alone; tighten it, since
	// the file inside holds secrets.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: chmod state directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	timeout := opts.LockTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// bbolt applies the mode only when it creates the file.
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: chmod %s: %w", path, err)
	}
	s := &Store{
		db:        db,
		log:       opts.Logger,
		rand:      opts.Rand,
		now:       opts.Now,
		accountID: opts.AccountID,
		subs:      make(map[int]*subscriber),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.initSchema(); err != nil {
		db.Close()
		return nil, err
	}
	if opts.OnChange != nil {
		s.Subscribe(opts.OnChange)
	}
	s.log.Info("store opened", "path", path, "schema", SchemaVersion)
	return s, nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.db.Path() }

// Close stops the change subscribers and closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	for id, sub := range s.subs {
		sub.stop()
		delete(s.subs, id)
	}
	s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// migration upgrades a database from version From to From+1 inside the
// caller's transaction.
type migration struct {
	From int
	Run  func(tx *bolt.Tx) error
}

// migrations lists the schema upgrades in order. Version 1 is the first
// layout, so there is nothing to run yet; a future layout change appends
// {From: 1, Run: ...} here and bumps SchemaVersion.
var migrations []migration

// initSchema creates the buckets, stamps a fresh database with
// SchemaVersion, and runs the migrations an older database needs — all in
// one transaction, so a crash mid-migration leaves the old layout intact.
func (s *Store) initSchema() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("store: create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		v, err := schemaVersion(meta)
		if err != nil {
			return err
		}
		if v == 0 {
			return setSchemaVersion(meta, SchemaVersion)
		}
		if v > SchemaVersion {
			return fmt.Errorf("store: database schema %d is newer than supported %d", v, SchemaVersion)
		}
		for _, m := range migrations {
			if m.From != v {
				continue
			}
			if err := m.Run(tx); err != nil {
				return fmt.Errorf("store: migrate schema %d: %w", v, err)
			}
			v++
		}
		if v != SchemaVersion {
			return fmt.Errorf("store: no migration from schema %d", v)
		}
		return setSchemaVersion(meta, v)
	})
}

// SchemaVersion returns the schema version recorded in the database.
func (s *Store) SchemaVersion() (int, error) {
	var v int
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		v, err = schemaVersion(tx.Bucket(bucketMeta))
		return err
	})
	return v, err
}

func schemaVersion(meta *bolt.Bucket) (int, error) {
	raw := meta.Get(keySchemaVersion)
	if raw == nil {
		return 0, nil
	}
	var v int
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("store: corrupt schema version %q: %w", raw, err)
	}
	return v, nil
}

func setSchemaVersion(meta *bolt.Bucket, v int) error {
	raw, _ := json.Marshal(v)
	return meta.Put(keySchemaVersion, raw)
}

// newID returns prefix followed by 12 lowercase hex characters (48 random
// bits), e.g. "vco-1a2b3c4d5e6f". The caller checks for collisions inside its
// transaction.
func (s *Store) newID(prefix string) (string, error) {
	var b [6]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return "", fmt.Errorf("store: generate id: %w", err)
	}
	return prefix + hex.EncodeToString(b[:]), nil
}

// uniqueID draws IDs until one is unused in bucket b.
func (s *Store) uniqueID(b *bolt.Bucket, prefix string) (string, error) {
	for range 16 {
		id, err := s.newID(prefix)
		if err != nil {
			return "", err
		}
		if b.Get([]byte(id)) == nil {
			return id, nil
		}
	}
	return "", errors.New("store: could not find an unused id")
}

// get decodes the JSON record key from bucket b into v; ErrNotFound if absent.
func get(b *bolt.Bucket, key string, v any) error {
	raw := b.Get([]byte(key))
	if raw == nil {
		return ErrNotFound
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("store: decode record %s: %w", key, err)
	}
	return nil
}

// put encodes v as JSON under key in bucket b.
func put(b *bolt.Bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s: %w", key, err)
	}
	return b.Put([]byte(key), raw)
}

// list decodes every record of bucket b, in key order, with decode.
func list(b *bolt.Bucket, decode func(k, v []byte) error) error {
	return b.ForEach(decode)
}

// update runs fn in one read-write transaction and, after a successful
// commit, announces the changes fn recorded.
func (s *Store) update(fn func(tx *bolt.Tx, ch *changes) error) error {
	var ch changes
	if err := s.db.Update(func(tx *bolt.Tx) error {
		ch = ch[:0]
		return fn(tx, &ch)
	}); err != nil {
		return err
	}
	s.notify(ch)
	return nil
}
