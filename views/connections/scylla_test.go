package connections

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
)

// TestScyllaReplicationFromTheConfig: a keyspace that ofs creates gets the
// replication that stores.NAME.scylla.replication names, as Cassandra
// reports it in system_schema.
func TestScyllaReplicationFromTheConfig(t *testing.T) {
	hosts := testenv.Cassandra(t)
	ks := testenv.Name(t)
	want := map[string]string{"class": "SimpleStrategy", "replication_factor": "2"}
	cfg := Config{Scylla: &Scylla{Hosts: hosts, Keyspace: ks, Username: testenv.CassandraUser,
		Password: testenv.CassandraPassword, Timeout: 30 * time.Second, Replication: want}}
	st, err := cfg.open(schema.Scylla, nil, slog.Default())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	s := st.(*views.Scylla)
	ctx := context.Background()
	t.Cleanup(func() {
		if err := s.DropKeyspace(ctx); err != nil {
			t.Errorf("drop keyspace: %v", err)
		}
		s.Close()
	})
	if err := s.EnsureTables(ctx); err != nil {
		t.Fatalf("EnsureTables: %v", err)
	}

	host, port, err := net.SplitHostPort(hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	c := gocql.NewCluster(host)
	if c.Port, err = strconv.Atoi(port); err != nil {
		t.Fatal(err)
	}
	c.Authenticator = gocql.PasswordAuthenticator{Username: testenv.CassandraUser, Password: testenv.CassandraPassword}
	c.Timeout = 30 * time.Second
	session, err := c.CreateSession()
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	defer session.Close()
	var got map[string]string
	if err := session.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, ks).
		WithContext(ctx).Scan(&got); err != nil {
		t.Fatalf("read the keyspace's replication: %v", err)
	}
	if got["replication_factor"] != "2" || got["class"] != "org.apache.cassandra.locator.SimpleStrategy" {
		t.Errorf("keyspace %s replication = %v, want %v", ks, got, want)
	}
}
