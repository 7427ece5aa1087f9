package views

import (
	"context"
	"testing"
)

// The embedded store passes the suite every store passes.
func TestPebbleStore(t *testing.T) {
	p, err := OpenPebble(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	testStore(t, p, -1<<63)
}

func TestPebbleLaterBlockInOneBatchWins(t *testing.T) {
	p, err := OpenPebble(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	k := key("user", "42")
	newer, older := blk(k, 1, 2000, 0xbb), blk(k, 1, 1000, 0xaa)
	mustWrite(t, p, newer, older) // the older one last, in the same batch
	if got := readOne(t, p, k, 1); string(got) != string(newer.Data) {
		t.Fatalf("stored %x, want the newer block", got)
	}
	if err := p.Write(context.Background(), []Block{{Key: k, Group: 1, Data: []byte("junk"), EventTime: 1}}); err == nil {
		t.Fatal("a non-block was stored")
	}
}
