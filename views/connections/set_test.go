package connections

import (
	"log/slog"
	"testing"

	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
)

func TestResolve(t *testing.T) {
	set := NewSet(Configs{"local": {Pebble: &Pebble{Dir: t.TempDir()}}}, nil, slog.New(slog.DiscardHandler))
	t.Cleanup(func() {
		if err := set.Close(); err != nil {
			t.Error(err)
		}
	})
	var resolve views.StoreResolver = set.Resolve

	st, err := resolve(&schema.Store{ID: "s", Kind: schema.Redis, Connection: "local"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := set.Connection("local", schema.Redis)
	if err != nil {
		t.Fatal(err)
	}
	if st != again {
		t.Errorf("Resolve and Connection opened two stores for one connection")
	}
	if _, err := resolve(&schema.Store{ID: "t", Kind: schema.Redis, Connection: "elsewhere"}); err == nil {
		t.Errorf("a connection that is not configured resolved")
	}
}
