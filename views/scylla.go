package views

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"
)

// Defaults of a Scylla store.
const (
	DefaultScyllaKeyspace    = "ofs"
	DefaultScyllaTimeout     = 5 * time.Second
	DefaultScyllaConcurrency = 32
	defaultCQLPort           = 9042

	// maxBatchBytes bounds the block bytes of one single-partition batch; a
	// larger write of one entity key is split.
	maxBatchBytes = 1 << 20
)

// DefaultScyllaReplication is the replication of a keyspace that a Scylla
// store creates without the ScyllaReplication option: one replica, for
// development.
func DefaultScyllaReplication() map[string]string {
	return map[string]string{"class": "SimpleStrategy", "replication_factor": "1"}
}

// Scylla is a Store in ScyllaDB or Apache Cassandra: one table per entity in
// one keyspace,
//
//	CREATE TABLE "<keyspace>"."<entity>" (
//	    "<key 1>" <type>, ..., "<key n>" <type>,
//	    "fg" int,   -- feature group id (uint32 reinterpreted)
//	    "v" blob,   -- the PSDB block
//	    PRIMARY KEY (("<key 1>", ..., "<key n>"), "fg"))
//
// Each block is written USING TIMESTAMP its event time and TTL its TTL, so
// the database itself keeps the latest block of every (entity key, feature
// group), whatever the order of the writes. Two blocks with equal event
// times are reconciled by the database's rule for cells of equal timestamp,
// which is the tie rule of every store (Wins); identical blocks are
// idempotent. An entity's table is ensured on first use when the store has
// a ScyllaTables resolver (every process that reads or writes then creates
// or checks it, race-free); without one, EnsureTables must be called for an
// entity before its blocks are written or read.
type Scylla struct {
	session     *gocql.Session
	keyspace    string
	replication string
	concurrency int
	resolve     func(entity string) (Table, bool)

	mu     sync.Mutex                        // serialises EnsureTables
	tables atomic.Pointer[map[string]*table] // by entity; copied on write
}

var _ Store = (*Scylla)(nil)

type scyllaConfig struct {
	keyspace    string
	replication map[string]string
	consistency gocql.Consistency
	timeout     time.Duration
	concurrency int
	logger      *slog.Logger
	resolve     func(entity string) (Table, bool)
	tweaks      []func(*gocql.ClusterConfig)
}

// ScyllaOption configures a Scylla store.
type ScyllaOption func(*scyllaConfig)

// ScyllaKeyspace sets the keyspace of the tables (default
// DefaultScyllaKeyspace); EnsureTables creates it if it is missing.
func ScyllaKeyspace(name string) ScyllaOption { return func(c *scyllaConfig) { c.keyspace = name } }

// ScyllaReplication sets the replication of the keyspace if EnsureTables
// creates it, for example {"class": "NetworkTopologyStrategy", "dc1": "3"}
// (default DefaultScyllaReplication). An existing keyspace is left as it is.
func ScyllaReplication(r map[string]string) ScyllaOption {
	return func(c *scyllaConfig) { c.replication = r }
}

// ScyllaConsistency sets the consistency of reads and writes (default
// LOCAL_QUORUM).
func ScyllaConsistency(cl gocql.Consistency) ScyllaOption {
	return func(c *scyllaConfig) { c.consistency = cl }
}

// ScyllaTimeout bounds connecting and each request (default
// DefaultScyllaTimeout); a context deadline shortens it.
func ScyllaTimeout(d time.Duration) ScyllaOption { return func(c *scyllaConfig) { c.timeout = d } }

// ScyllaConcurrency bounds the requests that one Read or Write has in
// flight (default DefaultScyllaConcurrency).
func ScyllaConcurrency(n int) ScyllaOption { return func(c *scyllaConfig) { c.concurrency = n } }

// ScyllaTables makes the store ensure the table of an entity on its first
// Read or Write (as EnsureTables does) with the definition that resolve
// gives, typically from the registry; an entity resolve does not know is
// ErrUnknownEntity. Concurrent first uses of one entity ensure it once.
func ScyllaTables(resolve func(entity string) (Table, bool)) ScyllaOption {
	return func(c *scyllaConfig) { c.resolve = resolve }
}

// ScyllaLogger receives the driver's log lines, as warnings (default: none).
func ScyllaLogger(l *slog.Logger) ScyllaOption { return func(c *scyllaConfig) { c.logger = l } }

// ScyllaAuth authenticates as username with password (PasswordAuthenticator
// on Cassandra, and ScyllaDB's and the managed services' equivalents).
func ScyllaAuth(username, password string) ScyllaOption {
	return ScyllaCluster(func(cc *gocql.ClusterConfig) {
		cc.Authenticator = gocql.PasswordAuthenticator{Username: username, Password: password}
	})
}

// ScyllaTLS connects over TLS with cfg, verifying the nodes' certificates
// (against cfg.RootCAs, or the system's roots).
func ScyllaTLS(cfg *tls.Config) ScyllaOption {
	return ScyllaCluster(func(cc *gocql.ClusterConfig) {
		cc.SslOpts = &gocql.SslOptions{Config: cfg.Clone(), EnableHostVerification: true}
	})
}

// ScyllaCluster lets f change the driver's configuration after the store
// has set it up: authentication, TLS, a DC-aware host policy. It may not
// change Port, which the contact points set.
func ScyllaCluster(f func(*gocql.ClusterConfig)) ScyllaOption {
	return func(c *scyllaConfig) { c.tweaks = append(c.tweaks, f) }
}

// OpenScylla connects to the cluster at the contact points hosts
// ("host:port", or "host" for port 9042; all on one port). Requests are
// routed token-aware to a replica of their partition. A cluster that cannot
// be reached gives an error that wraps ErrUnavailable.
func OpenScylla(hosts []string, opts ...ScyllaOption) (*Scylla, error) {
	c := scyllaConfig{
		keyspace:    DefaultScyllaKeyspace,
		replication: DefaultScyllaReplication(),
		consistency: gocql.LocalQuorum,
		timeout:     DefaultScyllaTimeout,
		concurrency: DefaultScyllaConcurrency,
		logger:      slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&c)
	}
	replication, err := replicationLiteral(c.replication)
	switch {
	case err != nil:
		return nil, err
	case !validName(c.keyspace, maxTableName):
		return nil, fmt.Errorf("%w: keyspace %q: want ^[a-z][a-z0-9_]*$, at most %d bytes", ErrInvalidOption, c.keyspace, maxTableName)
	case c.timeout <= 0:
		return nil, fmt.Errorf("%w: Scylla timeout %v", ErrInvalidOption, c.timeout)
	case c.concurrency < 1:
		return nil, fmt.Errorf("%w: Scylla concurrency %d", ErrInvalidOption, c.concurrency)
	case c.logger == nil:
		return nil, fmt.Errorf("%w: nil logger", ErrInvalidOption)
	}
	hs, port, err := contactPoints(hosts, defaultCQLPort)
	if err != nil {
		return nil, err
	}
	cluster := gocql.NewCluster(hs...)
	cluster.Port = port
	cluster.Consistency = c.consistency
	cluster.Timeout = c.timeout
	cluster.WriteTimeout = c.timeout
	cluster.ConnectTimeout = c.timeout
	cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy())
	cluster.RetryPolicy = &gocql.SimpleRetryPolicy{NumRetries: 2}
	cluster.Logger = driverLogger{c.logger}
	for _, f := range c.tweaks {
		f(cluster)
	}
	if cluster.Port != port {
		return nil, fmt.Errorf("%w: ScyllaCluster changed the port; give it in the contact points", ErrInvalidOption)
	}
	if err := cluster.Validate(); err != nil {
		return nil, fmt.Errorf("%w: Scylla driver configuration: %w", ErrInvalidOption, err)
	}
	session, err := cluster.CreateSession()
	if err != nil {
		// A refused login is ErrUnavailable too: callers retry, and a
		// password rotated on the cluster before the configuration is
		// mended by the rotation's second half, without a restart.
		return nil, fmt.Errorf("%w: scylla: connecting to %s: %w", ErrUnavailable, strings.Join(hosts, ","), err)
	}
	s := &Scylla{session: session, keyspace: c.keyspace, replication: replication, concurrency: c.concurrency,
		resolve: c.resolve}
	s.tables.Store(&map[string]*table{})
	return s, nil
}

// Close closes the session.
func (s *Scylla) Close() error {
	s.session.Close()
	return nil
}

// Ping checks that a node answers a query.
func (s *Scylla) Ping(ctx context.Context) error {
	var v string
	if err := s.session.Query("SELECT release_version FROM system.local").WithContext(ctx).Scan(&v); err != nil {
		return s.fail(ctx, "ping", err)
	}
	return nil
}

// EnsureTables creates the keyspace and the tables of entities that are
// missing, checks that existing tables have the columns the definitions
// give (else ErrTableMismatch), and makes the entities known to Read and
// Write. It is idempotent; a store that only reads calls it too, and issues
// no schema change when everything exists. Creating a table from several
// processes at once can leave the cluster's schema in disagreement, so let
// one process create them.
func (s *Scylla) EnsureTables(ctx context.Context, tables ...Table) error {
	checked := make([]*table, 0, len(tables))
	for _, t := range tables {
		tb, err := newTable(s.keyspace, t)
		if err != nil {
			return err
		}
		checked = append(checked, tb)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ensureLocked(ctx, checked)
}

// ensureLocked is EnsureTables of checked tables, with s.mu held.
func (s *Scylla) ensureLocked(ctx context.Context, checked []*table) error {
	var n int
	if err := s.session.Query(`SELECT count(*) FROM system_schema.keyspaces WHERE keyspace_name = ?`,
		s.keyspace).WithContext(ctx).Scan(&n); err != nil {
		return s.fail(ctx, "keyspace "+s.keyspace, err)
	}
	if n == 0 {
		stmt := "CREATE KEYSPACE IF NOT EXISTS " + quote(s.keyspace) + " WITH replication = " + s.replication
		if err := s.session.Query(stmt).WithContext(ctx).Exec(); err != nil {
			return s.fail(ctx, "create keyspace "+s.keyspace, err)
		}
	}
	for _, tb := range checked {
		got, err := s.columns(ctx, tb.name)
		if err != nil {
			return err
		}
		if len(got) == 0 {
			if err := s.session.Query(tb.create).WithContext(ctx).Exec(); err != nil {
				return s.fail(ctx, "create table "+tb.name, err)
			}
			if got, err = s.columns(ctx, tb.name); err != nil {
				return err
			}
		}
		if !slices.Equal(got, tb.want) {
			return fmt.Errorf("%w: entity %s, table %s.%s: columns %s, want %s", ErrTableMismatch,
				tb.Entity, s.keyspace, tb.name, strings.Join(got, ", "), strings.Join(tb.want, ", "))
		}
	}
	next := make(map[string]*table, len(*s.tables.Load())+len(checked))
	for k, v := range *s.tables.Load() {
		next[k] = v
	}
	for _, tb := range checked {
		next[tb.Entity] = tb
	}
	s.tables.Store(&next)
	return nil
}

// tablesFor returns the known tables, after ensuring (with the resolver)
// those of the entities of keys that are not known yet.
func (s *Scylla) tablesFor(ctx context.Context, n int, entity func(i int) string) (map[string]*table, error) {
	tables := *s.tables.Load()
	if s.resolve == nil {
		return tables, nil
	}
	var missing []Table
	for i := range n {
		e := entity(i)
		if _, ok := tables[e]; ok || slices.ContainsFunc(missing, func(t Table) bool { return t.Entity == e }) {
			continue
		}
		t, ok := s.resolve(e)
		if !ok {
			continue // bind reports ErrUnknownEntity
		}
		missing = append(missing, t)
	}
	if len(missing) == 0 {
		return tables, nil
	}
	if err := s.ensureMissing(ctx, missing); err != nil {
		return nil, err
	}
	return *s.tables.Load(), nil
}

// ensureMissing ensures the tables that no other call ensured meanwhile:
// concurrent first uses of an entity wait for one another, and only the
// first queries the cluster.
func (s *Scylla) ensureMissing(ctx context.Context, tables []Table) error {
	checked := make([]*table, 0, len(tables))
	for _, t := range tables {
		tb, err := newTable(s.keyspace, t)
		if err != nil {
			return err
		}
		checked = append(checked, tb)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	known := *s.tables.Load()
	checked = slices.DeleteFunc(checked, func(t *table) bool { return known[t.Entity] != nil })
	if len(checked) == 0 {
		return nil
	}
	return s.ensureLocked(ctx, checked)
}

// ttlSeconds is d in whole seconds, rounded up so that a block is never
// dropped before its TTL; 0 stays 0 (no expiry).
func ttlSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// partition is the blocks of one entity key in one Write.
type partition struct {
	tb    *table
	key   Key
	args  [][]any // one INSERT each
	bytes int
}

// Write inserts blocks USING TIMESTAMP their event times and TTL their TTLs:
// the blocks of one entity key (one partition) in one unlogged batch, and
// partitions concurrently.
func (s *Scylla) Write(ctx context.Context, blocks []Block) error {
	if err := checkBlocks(blocks); err != nil {
		return err
	}
	tables, err := s.tablesFor(ctx, len(blocks), func(i int) string { return blocks[i].Key.Entity })
	if err != nil {
		return err
	}
	var (
		parts []*partition
		open  = map[string]*partition{} // by entity key, the last partition of each
		buf   []byte
	)
	for i := range blocks {
		b := &blocks[i]
		// Cassandra counts a cell's expiry from the current second, truncated:
		// one second more keeps a block at least its TTL.
		ttl := ttlSeconds(b.TTL)
		if ttl > 0 {
			ttl++
		}
		switch {
		case b.EventTime == math.MinInt64:
			return fmt.Errorf("%w: %s group %d: event time %d is not a valid CQL timestamp", ErrInvalidBlock, b.Key, b.Group, b.EventTime)
		case ttl > maxTTLSeconds:
			return fmt.Errorf("%w: %s group %d: TTL %v is more than the %d s that CQL allows", ErrInvalidBlock, b.Key, b.Group, b.TTL, maxTTLSeconds)
		}
		tb, args, err := bind(tables, b.Key, 4)
		if err != nil {
			return err
		}
		// The group id is stored as a CQL int by reinterpretation; ttl is at
		// most maxTTLSeconds, which fits.
		args = append(args, int32(b.Group), b.Data, int32(ttl), b.EventTime) // the order of tb.insertNames
		buf = appendRedisTag(buf[:0], "", b.Key)
		p := open[string(buf)]
		if p == nil || p.bytes+len(b.Data) > maxBatchBytes {
			p = &partition{tb: tb, key: b.Key}
			open[string(buf)] = p
			parts = append(parts, p)
		}
		p.args = append(p.args, args)
		p.bytes += len(b.Data)
	}
	return s.each(ctx, len(parts), func(ctx context.Context, i int) error {
		p := parts[i]
		var err error
		if len(p.args) == 1 {
			err = s.session.Query(p.tb.insert, p.args[0]...).WithContext(ctx).Idempotent(true).Exec()
		} else {
			batch := s.session.Batch(gocql.UnloggedBatch).WithContext(ctx)
			for _, a := range p.args {
				batch.Entries = append(batch.Entries, gocql.BatchEntry{Stmt: p.tb.insert, Args: a, Idempotent: true})
			}
			err = s.session.ExecuteBatch(batch)
		}
		if err != nil {
			return s.fail(ctx, "write "+p.key.String(), err)
		}
		return nil
	})
}

// each runs f(0) ... f(n-1) on up to s.concurrency goroutines and returns
// the first error, which cancels the calls still to come. When the caller's
// context ends before every call ran, it returns the context's error.
func (s *Scylla) each(parent context.Context, n int, f func(ctx context.Context, i int) error) error {
	if n == 1 {
		return f(parent, 0)
	}
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var (
		next, done atomic.Int64
		once       sync.Once
		first      error
		wg         sync.WaitGroup
	)
	for range min(s.concurrency, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if first == nil && done.Load() < int64(n) {
		return fmt.Errorf("views: scylla: %w", parent.Err())
	}
	return first
}

// fail wraps an error of the driver. The caller's cancellation or deadline
// passes through; a failed or timed-out connection, no host, the server's
// Unavailable, Overloaded, IsBootstrapping, ReadTimeout and WriteTimeout
// errors, and a cancellation or deadline of the driver's own while the
// caller's context is still live (gocql cancels the requests of a
// connection it closes) wrap ErrUnavailable.
func (s *Scylla) fail(ctx context.Context, what string, err error) error {
	switch {
	case ctx.Err() != nil:
		if errors.Is(err, ctx.Err()) {
			return fmt.Errorf("views: scylla: %s: %w", what, err)
		}
		return fmt.Errorf("views: scylla: %s: %w (%w)", what, ctx.Err(), err)
	case cqlUnavailable(err), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: scylla: %s: %w", ErrUnavailable, what, err)
	}
	return fmt.Errorf("views: scylla: %s: %w", what, err)
}

// transportErrors are the driver's errors for a cluster, host or
// connection that cannot serve a request.
var transportErrors = []error{
	gocql.ErrNoConnections, gocql.ErrNoConnectionsStarted, gocql.ErrHostQueryFailed,
	gocql.ErrTimeoutNoResponse, gocql.ErrConnectionClosed, gocql.ErrNoStreams,
	gocql.ErrHostDown, gocql.ErrNoPool, gocql.ErrNoConnectionsInPool,
	gocql.ErrSessionClosed, gocql.ErrSessionNotReady, gocql.ErrUnavailable,
	io.EOF, io.ErrUnexpectedEOF,
}

// cqlUnavailable reports whether err says the cluster could not serve a
// request, rather than that the request was wrong.
func cqlUnavailable(err error) bool {
	for _, e := range transportErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	var req gocql.RequestError
	if errors.As(err, &req) {
		switch req.Code() {
		case gocql.ErrCodeUnavailable, gocql.ErrCodeOverloaded, gocql.ErrCodeBootstrapping,
			gocql.ErrCodeReadTimeout, gocql.ErrCodeWriteTimeout:
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// driverLogger passes the driver's log lines to a slog.Logger.
type driverLogger struct{ l *slog.Logger }

func (d driverLogger) Print(v ...any) {
	d.l.Warn(strings.TrimSpace(fmt.Sprint(v...)), "component", "gocql")
}
func (d driverLogger) Printf(format string, v ...any) {
	d.l.Warn(strings.TrimSpace(fmt.Sprintf(format, v...)), "component", "gocql")
}
func (d driverLogger) Println(v ...any) {
	d.l.Warn(strings.TrimSpace(fmt.Sprintln(v...)), "component", "gocql")
}

// DropKeyspace drops the store's keyspace and everything in it: for tests
// and for removing an old blue/green keyspace.
func (s *Scylla) DropKeyspace(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.session.Query("DROP KEYSPACE IF EXISTS " + quote(s.keyspace)).WithContext(ctx).Exec(); err != nil {
		return s.fail(ctx, "drop keyspace "+s.keyspace, err)
	}
	s.tables.Store(&map[string]*table{})
	return nil
}
