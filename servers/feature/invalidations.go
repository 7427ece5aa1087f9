package feature

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/views"
)

// Invalidator drops cached blocks: views.Cache.
type Invalidator interface {
	Invalidate(keys []views.Key, groups []uint32)
}

// FollowInvalidations drops from inv every key announced on the
// invalidations topic from now on, until ctx is done. The ingest processor
// announces what it wrote, and Persist on any server what it wrote, so every
// server's caches forget a key as soon as the store has a newer block.
// ready is called once the consumer is positioned.
func FollowInvalidations(ctx context.Context, consumer sarama.Consumer, topic string, inv Invalidator, log *slog.Logger, ready func()) error {
	return follow(ctx, consumer, topic, sarama.OffsetNewest, inv, log, ready, nil)
}

// Follow is FollowInvalidations for a server with peers: it starts at the
// topic's end as the watermark gives it and tells peers how far it got,
// which joining the fleet waits for.
func (p *Peers) Follow(ctx context.Context, consumer sarama.Consumer, topic string, inv Invalidator, log *slog.Logger, ready func()) error {
	start, err := p.watermark()
	if err != nil {
		return fmt.Errorf("feature: follow %s: %w", topic, err)
	}
	p.Applied(start)
	return follow(ctx, consumer, topic, start, inv, log, ready, p.Applied)
}

func follow(ctx context.Context, consumer sarama.Consumer, topic string, start int64, inv Invalidator, log *slog.Logger,
	ready func(), applied func(next int64),
) error {
	pc, err := consumer.ConsumePartition(topic, 0, start)
	if err != nil {
		return fmt.Errorf("feature: follow %s: %w", topic, err)
	}
	defer pc.Close()
	if ready != nil {
		ready()
	}
	var msg featurev1.Invalidation
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-pc.Errors():
			log.Warn("reading invalidations", "topic", topic, "err", err)
		case m, ok := <-pc.Messages():
			if !ok {
				return fmt.Errorf("feature: %s closed", topic)
			}
			if err := proto.Unmarshal(m.Value, &msg); err != nil {
				log.Warn("undecodable invalidation", "offset", m.Offset, "err", err)
			} else {
				applyInvalidation(inv, &msg)
			}
			if applied != nil {
				applied(m.Offset + 1)
			}
		}
	}
}

func applyInvalidation(inv Invalidator, msg *featurev1.Invalidation) {
	var key [1]views.Key
	for _, k := range msg.GetKeys() {
		key[0] = views.Key{Entity: k.GetEntity(), Values: k.GetKeyValues()}
		inv.Invalidate(key[:], k.GetFeatureGroupIds())
	}
}
