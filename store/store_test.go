package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ipsecgw/ipsecgw/config"
)

func openTest(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testConn(name string) config.Connection {
	return config.Connection{
		Name:            name,
		CustomerGateway: "192.0.2.1",
		PSK:             "s3cret-PSK",
	}
}

// rulesOf extracts the (field, rule) pairs of a config/conflict error.
func rulesOf(t *testing.T, err error) config.Errors {
	t.Helper()
	var es config.Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %v (%T) carries no config.Errors", err, err)
	}
	return es
}

func isConflict(err error) bool {
	var ce *ConflictError
	return errors.As(err, &ce)
}

func TestOpenModesAndSchema(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	// A pre-existing world-readable directory must be tightened.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, dir, Options{})
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("state dir mode = %o, want 700", got)
	}
	fi, err = os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("db file mode = %o, want 600", got)
	}
	if v, err := s.SchemaVersion(); err != nil || v != SchemaVersion {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, SchemaVersion)
	}
	if s.db.NoSync {
		t.Error("NoSync is set: commits would not be durable")
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return setSchemaVersion(tx.Bucket(bucketMeta), SchemaVersion+1)
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("Open accepted a database with a newer schema")
	}
}

func TestMigrationRuns(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Version 0 means "fresh database", so an old layout is simulated with
	// version -1 and a migration chain -1 → 0 → 1.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return setSchemaVersion(tx.Bucket(bucketMeta), -1)
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	ran := false
	saved := migrations
	migrations = []migration{
		{From: -1, Run: func(tx *bolt.Tx) error { ran = true; return nil }},
		{From: 0, Run: func(tx *bolt.Tx) error { return nil }},
	}
	defer func() { migrations = saved }()
	s = openTest(t, dir, Options{})
	if !ran {
		t.Error("migration from the old schema did not run")
	}
	if v, _ := s.SchemaVersion(); v != SchemaVersion {
		t.Errorf("schema after migration = %d, want %d", v, SchemaVersion)
	}
}

func TestIDFormat(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{Rand: bytes.NewReader(bytes.Repeat([]byte{0xab}, 64))})
	c, err := s.CreateConnection(testConn("hq"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "vco-abababababab" {
		t.Errorf("connection id = %q", c.ID)
	}
	tr, err := s.CreateTransitRouter(config.TransitRouter{Name: "tr1", RouteTable: 100})
	if err != nil {
		t.Fatal(err)
	}
	if tr.ID != "tr-abababababab" {
		t.Errorf("transit router id = %q", tr.ID)
	}
	// The same randomness again: the collision must be detected, and with
	// no other randomness left creation fails instead of overwriting.
	if _, err := s.CreateConnection(testConn("other")); err == nil {
		t.Error("a colliding id overwrote an existing connection")
	}
	if got, _ := s.GetConnection("vco-abababababab"); got == nil || got.Name != "hq" {
		t.Errorf("first connection damaged: %+v", got)
	}
}

func TestCreateAppliesDefaultsAndPersists(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := Open(dir, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateConnection(testConn("hq"))
	if err != nil {
		t.Fatal(err)
	}
	if c.IKE.Version != config.IKEv2 || c.RoutingMode != config.RoutingDestination || !c.DPDEnabled() {
		t.Errorf("defaults not applied: %+v", c.Connection)
	}
	if c.IKE.LocalID != "" {
		t.Errorf("local_id = %q, want empty (resolved to the gateway address at run time)", c.IKE.LocalID)
	}
	if !c.CreatedAt.Equal(now) {
		t.Errorf("created_at = %v", c.CreatedAt)
	}
	s.Close()

	s = openTest(t, dir, Options{})
	got, err := s.GetConnection(c.ID)
	if err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	if !reflect.DeepEqual(got.Connection, c.Connection) {
		t.Errorf("after reopen\n got %+v\nwant %+v", got.Connection, c.Connection)
	}
	list, err := s.ListConnections()
	if err != nil || len(list) != 1 {
		t.Fatalf("ListConnections = %d, %v", len(list), err)
	}
}

func TestCreateRejectsID(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	c := testConn("hq")
	c.ID = "vco-000000000000"
	_, err := s.CreateConnection(c)
	if !rulesOf(t, err).Has("id", config.RuleNotAllowed) {
		t.Errorf("err = %v", err)
	}
}

func TestUniqueName(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	a, err := s.CreateConnection(testConn("hq"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateConnection(testConn("hq"))
	if !isConflict(err) || !rulesOf(t, err).Has("name", config.RuleUnique) {
		t.Fatalf("duplicate name: err = %v", err)
	}
	b, err := s.CreateConnection(testConn("branch"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateConnection(b.ID, testConn("hq")); !isConflict(err) {
		t.Errorf("rename onto a taken name: err = %v", err)
	}
	// Keeping one's own name is fine; empty names never collide.
	if _, err := s.UpdateConnection(a.ID, testConn("hq")); err != nil {
		t.Errorf("update keeping own name: %v", err)
	}
	for range 2 {
		if _, err := s.CreateConnection(testConn("")); err != nil {
			t.Errorf("unnamed connection: %v", err)
		}
	}
}

func TestUpdateGatewayTypeImmutable(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	c, err := s.CreateConnection(testConn("hq"))
	if err != nil {
		t.Fatal(err)
	}
	n := testConn("hq")
	n.GatewayType = config.GatewayPrivate
	_, err = s.UpdateConnection(c.ID, n)
	if !rulesOf(t, err).Has("gateway_type", config.RuleImmutable) {
		t.Fatalf("gateway type change: err = %v", err)
	}
	got, _ := s.GetConnection(c.ID)
	if got.GatewayType != config.GatewayPublic {
		t.Errorf("rejected update changed the gateway type to %s", got.GatewayType)
	}
	n.GatewayType = ""
	n.PSK = "new-PSK"
	got, err = s.UpdateConnection(c.ID, n)
	if err != nil || got.PSK != "new-PSK" {
		t.Errorf("allowed update: %v, %+v", err, got)
	}
	if _, err := s.UpdateConnection("vco-missing00000", n); !errors.Is(err, ErrNotFound) {
		t.Errorf("update missing: %v", err)
	}
}

// setup creates a connection and a transit router of account (""=own).
func setup(t *testing.T, s *Store, account string) (*Connection, *TransitRouter) {
	t.Helper()
	c, err := s.CreateConnection(testConn("hq"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := s.CreateTransitRouter(config.TransitRouter{Name: "tr", AccountID: account, RouteTable: 100})
	if err != nil {
		t.Fatal(err)
	}
	return c, tr
}

func TestAttachedRules(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	c, tr := setup(t, s, "")
	att := config.Attachment{ConnectionID: c.ID, TransitRouterID: tr.ID, Zone: "zone-a"}
	got, err := s.Attach(att)
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	if got.Attachment == nil || got.Attachment.GatewayType != config.GatewayPublic {
		t.Fatalf("attachment = %+v", got.Attachment)
	}
	if _, err := s.Attach(att); !isConflict(err) || !rulesOf(t, err).Has("connection_id", config.RuleAttached) {
		t.Errorf("second attach: %v", err)
	}
	// Attached: delete refused, authorize refused, TR delete refused.
	if err := s.DeleteConnection(c.ID); !isConflict(err) || !rulesOf(t, err).Has("transit_router_id", config.RuleAttached) {
		t.Errorf("delete attached: %v", err)
	}
	if _, err := s.Authorize(config.Authorization{ConnectionID: c.ID, AccountID: "acct-2", CENID: "cen-1"}); !isConflict(err) {
		t.Errorf("authorize attached: %v", err)
	}
	if err := s.DeleteTransitRouter(tr.ID); !isConflict(err) {
		t.Errorf("delete TR with attachments: %v", err)
	}
	// Attached: modifying the PSK and IKE settings is allowed.
	n := testConn("hq")
	n.PSK = "changed"
	n.IKE.Encryption = config.EncAES256
	if _, err := s.UpdateConnection(c.ID, n); err != nil {
		t.Errorf("modify attached: %v", err)
	}
	got, _ = s.GetConnection(c.ID)
	if got.Attachment == nil || len(got.Authorizations) != 0 {
		t.Errorf("rejected operations changed state: %+v", got)
	}
	if trs, _ := s.GetTransitRouter(tr.ID); len(trs.Attachments) != 1 || trs.Attachments[0] != c.ID {
		t.Errorf("TR attachments = %v", trs.Attachments)
	}
	// Detach, then everything is allowed.
	if _, err := s.Detach(c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Detach(c.ID); !rulesOf(t, err).Has("transit_router_id", config.RuleNotAttached) {
		t.Errorf("detach unattached: %v", err)
	}
	if err := s.DeleteTransitRouter(tr.ID); err != nil {
		t.Errorf("delete TR: %v", err)
	}
	if err := s.DeleteConnection(c.ID); err != nil {
		t.Errorf("delete: %v", err)
	}
	if _, err := s.GetConnection(c.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("get deleted: %v", err)
	}
}

func TestAttachGatewayTypeAndZone(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	c, _ := setup(t, s, "")
	tr, err := s.CreateTransitRouter(config.TransitRouter{Name: "zoned", Zone: "zone-b", RouteTable: 101})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Attach(config.Attachment{ConnectionID: c.ID, TransitRouterID: tr.ID, Zone: "zone-a", GatewayType: config.GatewayPrivate})
	es := rulesOf(t, err)
	if !es.Has("gateway_type", config.RuleImmutable) || !es.Has("zone", config.RuleOneOf) {
		t.Errorf("errors = %v", es)
	}
	if _, err := s.Attach(config.Attachment{ConnectionID: c.ID, TransitRouterID: "tr-nothere0000", Zone: "z"}); !rulesOf(t, err).Has("transit_router_id", RuleExists) {
		t.Errorf("unknown TR: %v", err)
	}
	if got, _ := s.GetConnection(c.ID); got.Attachment != nil {
		t.Error("rejected attach attached")
	}
}

func TestCrossAccount(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	c, tr := setup(t, s, "acct-2")
	att := config.Attachment{ConnectionID: c.ID, TransitRouterID: tr.ID, Zone: "zone-a"}
	_, err := s.Attach(att)
	if !isConflict(err) || !rulesOf(t, err).Has("transit_router_id", config.RuleUnauthorized) {
		t.Fatalf("unauthorized cross-account attach: %v", err)
	}
	got, err := s.Authorize(config.Authorization{ConnectionID: c.ID, AccountID: "acct-2", CENID: "cen-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Authorizations) != 1 || got.Authorizations[0].Payer != config.PayerCENOwner {
		t.Fatalf("authorizations = %+v", got.Authorizations)
	}
	if _, err := s.Authorize(config.Authorization{ConnectionID: c.ID, AccountID: "acct-2", CENID: "cen-1", Payer: "nobody"}); !rulesOf(t, err).Has("payer", config.RuleOneOf) {
		t.Errorf("bad payer: %v", err)
	}
	if _, err := s.Attach(att); err != nil {
		t.Fatalf("authorized attach: %v", err)
	}
	if _, err := s.Revoke(c.ID, "acct-2"); !isConflict(err) || !rulesOf(t, err).Has("account_id", config.RuleAttached) {
		t.Errorf("revoke while attached by that account: %v", err)
	}
	if _, err := s.Detach(c.ID); err != nil {
		t.Fatal(err)
	}
	got, err = s.Revoke(c.ID, "acct-2")
	if err != nil || len(got.Authorizations) != 0 {
		t.Errorf("revoke after detach: %v %+v", err, got)
	}
	if _, err := s.Revoke(c.ID, "acct-2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke twice: %v", err)
	}
}

func TestRevokeOtherAccountWhileAttachedElsewhere(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	c, tr := setup(t, s, "")
	if _, err := s.Authorize(config.Authorization{ConnectionID: c.ID, AccountID: "acct-3", CENID: "cen-3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Attach(config.Attachment{ConnectionID: c.ID, TransitRouterID: tr.ID, Zone: "z"}); err != nil {
		t.Fatal(err)
	}
	// Attached to our own router: acct-3's router does not hold it.
	if _, err := s.Revoke(c.ID, "acct-3"); err != nil {
		t.Errorf("revoke: %v", err)
	}
}

func TestDeleteRemovesAuthorizations(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	c, _ := setup(t, s, "")
	if _, err := s.Authorize(config.Authorization{ConnectionID: c.ID, AccountID: "a1", CENID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteConnection(c.ID); err != nil {
		t.Fatal(err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bucketAuthorizations).Stats().KeyN; n != 0 {
			t.Errorf("%d authorizations left behind", n)
		}
		return nil
	})
}

func TestFailedTransactionChangesNothing(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	c, _ := setup(t, s, "")
	var seen []Change
	var mu sync.Mutex
	s.Subscribe(func(ch Change) { mu.Lock(); seen = append(seen, ch); mu.Unlock() })
	boom := errors.New("boom")
	err := s.update(func(tx *bolt.Tx, ch *changes) error {
		if err := tx.Bucket(bucketConnections).Delete([]byte(c.ID)); err != nil {
			return err
		}
		ch.add(KindConnection, OpDelete, c.ID)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if _, err := s.GetConnection(c.ID); err != nil {
		t.Errorf("half-applied change: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 0 {
		t.Errorf("a rolled-back change was announced: %v", seen)
	}
}

func TestSubscribe(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	got := make(chan Change, 16)
	cancel := s.Subscribe(func(c Change) { got <- c })
	c, err := s.CreateConnection(testConn("hq"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ch := <-got:
		if ch != (Change{Kind: KindConnection, Op: OpCreate, ID: c.ID}) {
			t.Errorf("change = %+v", ch)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change announced")
	}
	cancel()
	if err := s.DeleteConnection(c.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case ch := <-got:
		t.Errorf("change after cancel: %+v", ch)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestSlowSubscriberDoesNotBlockWriters(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	release := make(chan struct{})
	var mu sync.Mutex
	last := map[string]Op{}
	s.Subscribe(func(c Change) {
		<-release
		mu.Lock()
		last[c.ID] = c.Op
		mu.Unlock()
	})
	c, err := s.CreateConnection(testConn("hq"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for i := range 20 {
			n := testConn("hq")
			n.PSK = "psk-" + string(rune('a'+i))
			if _, err := s.UpdateConnection(c.ID, n); err != nil {
				t.Error(err)
			}
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writers blocked on a stalled subscriber")
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		op := last[c.ID]
		mu.Unlock()
		if op == OpUpdate {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("the coalesced final update was never delivered")
}

func TestSecondOpenTimesOut(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir, Options{})
	start := time.Now()
	if _, err := Open(dir, Options{LockTimeout: 200 * time.Millisecond}); err == nil {
		t.Fatal("a second Open of a locked store succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("second Open took %v", d)
	}
}

// TestConcurrentRulesAtomic races operations whose rules depend on each
// other: the check and the write of each must be atomic, so exactly one of
// two same-name creates wins, and a delete racing an attach never leaves an
// attachment to a deleted connection.
func TestConcurrentRulesAtomic(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	tr, err := s.CreateTransitRouter(config.TransitRouter{Name: "tr", RouteTable: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		name := "n" + string(rune('a'+i))
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for g := range errs {
			wg.Go(func() { _, errs[g] = s.CreateConnection(testConn(name)) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !isConflict(err) {
				t.Fatalf("create: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d concurrent creates of %q succeeded, want 1", ok, name)
		}
		list, _ := s.ListConnections()
		var id string
		for _, c := range list {
			if c.Name == name {
				id = c.ID
			}
		}
		var delErr, attErr error
		wg.Go(func() { delErr = s.DeleteConnection(id) })
		wg.Go(func() {
			_, attErr = s.Attach(config.Attachment{ConnectionID: id, TransitRouterID: tr.ID, Zone: "z"})
		})
		wg.Wait()
		c, getErr := s.GetConnection(id)
		switch {
		case delErr == nil && attErr == nil:
			t.Fatalf("both delete and attach succeeded")
		case delErr == nil:
			if !errors.Is(getErr, ErrNotFound) {
				t.Fatalf("deleted connection still there: %v", getErr)
			}
		case attErr == nil:
			if getErr != nil || c.Attachment == nil {
				t.Fatalf("attached connection: %v %+v", getErr, c)
			}
		}
	}
	trs, _ := s.GetTransitRouter(tr.ID)
	for _, id := range trs.Attachments {
		if _, err := s.GetConnection(id); err != nil {
			t.Errorf("orphan attachment for %s: %v", id, err)
		}
	}
}
