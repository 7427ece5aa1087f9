package replay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// ErrStuck reports a partition whose broker keeps answering a fetch below
// the watermark with nothing: the log is not what its offsets say.
var ErrStuck = errors.New("replay: the broker returns nothing below the watermark")

// Span is the part of one partition a fold reads: From up to, not
// including, To (the high watermark taken when the fold started).
type Span struct {
	Partition int32
	From, To  int64
}

// record is one data record of the log, as a fold needs it.
type record struct {
	partition int32
	offset    int64
	key       []byte
	value     []byte
	timestamp time.Time
	headers   []*sarama.RecordHeader
}

// spans returns the span of every partition of topic from its oldest offset
// (or from[p] when given) to its high watermark now.
func spans(client sarama.Client, topic string, from map[int32]int64) ([]Span, error) {
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("replay: partitions of %s: %w", topic, err)
	}
	out := make([]Span, 0, len(parts))
	for _, p := range parts {
		oldest, err1 := client.GetOffset(topic, p, sarama.OffsetOldest)
		end, err2 := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("replay: offsets of %s/%d: %w", topic, p, err)
		}
		if f, ok := from[p]; ok && f > oldest {
			oldest = f
		}
		out = append(out, Span{Partition: p, From: oldest, To: end})
	}
	return out, nil
}

// fetchVersion is the Fetch request version for the Kafka version of cfg:
// 4 and up carry the isolation level, 7 and up fetch sessions (unused).
func fetchVersion(v sarama.KafkaVersion) int16 {
	switch {
	case v.IsAtLeast(sarama.V2_1_0_0):
		return 10 // zstd
	case v.IsAtLeast(sarama.V1_1_0_0):
		return 7
	default:
		return 4
	}
}

// readSpan reads the data records of s in order and calls fn with each. It
// fetches by itself instead of through a sarama consumer so that it knows
// its position: the offset after the last batch the broker returned,
// control batches (transaction markers) and compacted gaps included. It
// stops when that position reaches s.To, so a marker or a compacted record
// at the end of the span cannot make it wait for an offset that no data
// record has. Records are read uncommitted, as the ingest processor reads
// them (goka's consumer does not set read_committed).
func readSpan(ctx context.Context, client sarama.Client, cfg *sarama.Config, topic string, s Span, fn func(*record) error) error {
	pos := s.From
	maxBytes := int32(4 << 20)
	empty, fails := 0, 0
	rec := &record{partition: s.Partition}
	for pos < s.To {
		if err := ctx.Err(); err != nil {
			return err
		}
		broker, err := client.Leader(topic, s.Partition)
		if err != nil {
			if err := retry(ctx, client, topic, err, &fails); err != nil {
				return fmt.Errorf("replay: leader of %s/%d: %w", topic, s.Partition, err)
			}
			continue
		}
		req := &sarama.FetchRequest{Version: fetchVersion(cfg.Version), MaxWaitTime: 500, MinBytes: 1,
			MaxBytes: 4 * maxBytes, Isolation: cfg.Consumer.IsolationLevel}
		if req.Version >= 7 {
			req.SessionID, req.SessionEpoch = 0, -1
		}
		req.AddBlock(topic, s.Partition, pos, maxBytes, -1)
		resp, err := broker.Fetch(req)
		if err != nil {
			if err := retry(ctx, client, topic, err, &fails); err != nil {
				return fmt.Errorf("replay: fetch %s/%d at %d: %w", topic, s.Partition, pos, err)
			}
			continue
		}
		blk := resp.GetBlock(topic, s.Partition)
		switch {
		case blk == nil:
			return fmt.Errorf("replay: fetch %s/%d at %d: %w", topic, s.Partition, pos, sarama.ErrIncompleteResponse)
		case errors.Is(blk.Err, sarama.ErrOffsetOutOfRange) && pos < blk.LogStartOffset:
			// Retention deleted the start of the span since it was taken.
			pos = blk.LogStartOffset
			continue
		case !errors.Is(blk.Err, sarama.ErrNoError):
			if err := retry(ctx, client, topic, blk.Err, &fails); err != nil {
				return fmt.Errorf("replay: fetch %s/%d at %d: %w", topic, s.Partition, pos, err)
			}
			continue
		}
		fails = 0
		before := pos
		for _, rs := range blk.RecordsSet {
			b := rs.RecordBatch
			if b == nil {
				return fmt.Errorf("replay: %s/%d at %d: a message set older than Kafka 0.11, which ofs does not read", topic, s.Partition, pos)
			}
			if b.PartialTrailingRecord {
				break
			}
			if !b.Control {
				for _, r := range b.Records {
					off := b.FirstOffset + r.OffsetDelta
					if off < pos || off >= s.To {
						continue
					}
					ts := b.FirstTimestamp.Add(r.TimestampDelta)
					if b.LogAppendTime {
						ts = b.MaxTimestamp
					}
					rec.offset, rec.key, rec.value, rec.timestamp, rec.headers = off, r.Key, r.Value, ts, r.Headers
					if err := fn(rec); err != nil {
						return err
					}
				}
			}
			pos = max(pos, b.FirstOffset+int64(b.LastOffsetDelta)+1)
		}
		switch {
		case pos > before:
			empty = 0
		case len(blk.RecordsSet) > 0 || blk.Partial:
			// One batch larger than asked for: ask for more.
			maxBytes = min(2*maxBytes, 1<<30)
		default:
			if empty++; empty > 20 {
				return fmt.Errorf("%w: %s/%d at %d, watermark %d (broker's high watermark now %d)",
					ErrStuck, topic, s.Partition, pos, s.To, blk.HighWaterMarkOffset)
			}
		}
	}
	return nil
}

// retry refreshes the metadata of topic after err and waits a moment, or
// gives up with err when ctx is done or after a minute of failures in a row
// (a leader election takes seconds; a broker that refuses us does not heal).
func retry(ctx context.Context, client sarama.Client, topic string, err error, fails *int) error {
	if *fails++; *fails > 240 {
		return err
	}
	if rerr := client.RefreshMetadata(topic); rerr != nil {
		err = errors.Join(err, rerr)
	}
	select {
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	case <-time.After(250 * time.Millisecond):
		return nil
	}
}
