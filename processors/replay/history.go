package replay

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/IBM/sarama"

	"github.com/ofstack/ofs/processors/registry"
	"github.com/ofstack/ofs/schema"
)

// History is the registry as it was at every moment: the fold of the
// registry topic, one snapshot per command that changed it, stamped with
// the command's Kafka timestamp (the time the registry processor applies it
// with). Versions are immutable, so the snapshot at an event's timestamp
// has the version the event was written for, even if a later command
// removed its feature.
type History struct {
	at    []time.Time
	snaps []*schema.Snapshot
}

// HistoryOf returns a history that is snap at every time: for a registry
// that did not come from a registry topic (tests, tools).
func HistoryOf(snap *schema.Snapshot) *History {
	return &History{at: []time.Time{{}}, snaps: []*schema.Snapshot{snap}}
}

// LoadHistory folds the registry topic up to its high watermark with the
// registry processor's rule (registry.Command, then Apply at the message's
// timestamp).
func LoadHistory(ctx context.Context, client sarama.Client, cfg *sarama.Config, topic string) (*History, error) {
	sp, err := spans(client, topic, nil)
	if err != nil {
		return nil, err
	}
	h := &History{}
	cur := schema.NewRegistry()
	for _, s := range sp {
		err := readSpan(ctx, client, cfg, topic, s, func(r *record) error {
			cmd, err := registry.Command(string(r.key), r.value)
			if err != nil {
				return nil // rejected by the processor too: it changed nothing
			}
			next, _ := cur.ApplyProto(cmd, r.timestamp)
			if next != cur {
				cur = next
				h.at = append(h.at, r.timestamp)
				h.snaps = append(h.snaps, schema.NewSnapshot(next))
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("replay: registry topic: %w", err)
		}
	}
	if len(h.snaps) == 0 {
		return nil, errors.New("replay: the registry topic holds no command: nothing is registered")
	}
	return h, nil
}

// At returns the registry as it was at t: the state after the last command
// stamped at or before t, an empty registry before the first.
func (h *History) At(t time.Time) *schema.Snapshot {
	i := sort.Search(len(h.at), func(i int) bool { return h.at[i].After(t) })
	if i == 0 {
		if h.at[0].IsZero() {
			return h.snaps[0]
		}
		return schema.NewSnapshot(schema.NewRegistry())
	}
	return h.snaps[i-1]
}

// Latest returns the registry after every command.
func (h *History) Latest() *schema.Snapshot { return h.snaps[len(h.snaps)-1] }
