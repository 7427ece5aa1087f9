package topics

import (
	"context"
	"log/slog"
	"time"

	"github.com/ofstack/ofs/internal/backoff"
)

// The waits between runs of a processor that Restart brings back.
const (
	restartFirst = 500 * time.Millisecond
	restartMax   = 10 * time.Second
)

// Restart calls run until ctx is done, and calls it again (after a wait
// that doubles from half a second up to ten seconds, and starts over after
// a run that lasted longer than that) each time it returns while ctx is
// not done. A goka processor ends when its consumer group loses every
// broker ("client has run out of available brokers"), which a broker
// restart or a network blip causes: run builds a new one each time, which
// starts from the committed offsets, so the processor stalls through an
// outage of Kafka and resumes by itself. Restart returns nil once ctx is
// done.
func Restart(ctx context.Context, log *slog.Logger, what string, run func(context.Context) error) error {
	waits := backoff.Doubling{First: restartFirst, Max: restartMax}
	for {
		start := time.Now()
		err := run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > restartMax {
			waits.Reset()
		}
		wait := waits.Next()
		log.Warn("processor stopped; starting it again", "processor", what, "err", err, "in", wait)
		if !backoff.Sleep(ctx, wait) {
			return nil
		}
	}
}
