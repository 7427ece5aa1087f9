package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/internal/node"
	"github.com/ofstack/ofs/processors/replay"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
	"github.com/ofstack/ofs/views/connections"
	"github.com/ofstack/ofs/views/registrycopy"
)

func newReplay(g *globals) *cobra.Command {
	var (
		cf         configFlags
		groups     []string
		intoPrefix string
		intoKS     string
		noSwitch   bool
		fence      time.Duration
		asOf       string
	)
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Rebuild online stores from the features topic, in place, blue/green, or as of a past time",
		Long: "Fold the features topic up to the high watermark of every partition taken at start: each event goes\n" +
			"through the ingest processor's rules (Kafka key, validation) against the registry as it was at the\n" +
			"event's Kafka timestamp (the fold of the registry topic), and the blocks are written.\n\n" +
			"In place (the default), the stores the connections point at now are written: last writer wins\n" +
			"by event time, so nothing newer is overwritten and running it twice changes nothing; the keys\n" +
			"written are announced on the invalidations topic, so servers drop what they cached.\n\n" +
			"Blue/green: --into-prefix fills the Redis connections under a new key prefix, --into-keyspace the\n" +
			"Scylla connections in a new keyspace (tables are created), up to the watermark, while nothing reads\n" +
			"them. Then the connections are switched in etcd, and the switch counts once every server and ingest\n" +
			"processor has acknowledged it (--fence-timeout; a laggard is named and the command fails). Then the\n" +
			"events after the watermark are replayed into the new target, and every key is announced.\n" +
			"--no-switch fills the target and stops there.\n\n" +
			"--as-of TIME (with --into-prefix or --into-keyspace, never switched) fills the store as it was at TIME:\n" +
			"events whose event time is at or before TIME, decoded with the registry as of TIME at the latest.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if intoPrefix != "" && intoKS != "" {
				return usageError{errors.New("--into-prefix and --into-keyspace are two replays: run them one at a time")}
			}
			if strings.ContainsAny(intoPrefix, "{}") {
				return usageError{errors.New("--into-prefix may not contain braces")}
			}
			at, err := parseAsOf(asOf)
			if err != nil {
				return err
			}
			if !at.IsZero() && intoPrefix == "" && intoKS == "" {
				return usageError{errors.New("--as-of needs --into-prefix or --into-keyspace: a past store is never written over the live one")}
			}
			rt, err := cf.runtime(g)
			if err != nil {
				return err
			}
			defer rt.Close()
			grp, ctx := errgroup.WithContext(cmd.Context())
			defer grp.Wait() //nolint:errcheck // the watches end with ctx; their errors are not the replay's
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			holder, err := rt.WatchRegistry(ctx, grp)
			if err != nil {
				return err
			}
			// The stores the connections point at now, fixed for the whole
			// replay (the replay's own switch must not move them under it).
			root := registrycopy.ConnectionsRoot(rt.Cfg.Prefix)
			current, err := registrycopy.Targets(ctx, rt.Etcd, root)
			if err != nil {
				return err
			}
			stores := connections.NewSet(rt.Cfg.Stores, holder, rt.Log)
			defer stores.Close()
			stores.SetTargets(current)
			target := registrycopy.Target{KeyPrefix: intoPrefix, Keyspace: intoKS}
			var moved map[string]registrycopy.Target
			if target != (registrycopy.Target{}) {
				if moved, err = blueGreen(ctx, rt, holder, stores, current, target); err != nil {
					return err
				}
			}
			src := replay.Source{Brokers: rt.Cfg.Kafka.Brokers, Sarama: rt.Sarama("ofs-replay"), Names: rt.Names, Groups: groups, AsOf: at}
			run := func(src replay.Source, ann replay.Announce) (replay.Summary, error) {
				sum, err := replay.Run(ctx, replay.Config{
					Source: src, Announce: ann, Log: rt.Log,
					Stores: func(s *schema.Store) (views.Store, error) { return stores.Connection(s.Connection, s.Kind) },
					Progress: func(p replay.Progress) {
						fmt.Fprintf(g.stderr, "\rreplay: %d/%d events read, %d blocks written, %d skipped", p.Read, p.Total, p.Written, p.Skipped)
					},
				})
				fmt.Fprintln(g.stderr)
				if errors.Is(err, replay.ErrNoGroup) {
					return sum, usageError{err}
				}
				return sum, err
			}
			switch {
			case moved == nil: // in place
				sum, err := run(src, replay.AnnounceWrites)
				printReplaySummary(g, sum)
				return err
			case noSwitch || !at.IsZero():
				sum, err := run(src, replay.AnnounceNone)
				printReplaySummary(g, sum)
				if err == nil {
					fmt.Fprintln(g.stdout, "Filled; not switched.")
				}
				return err
			}
			sum, err := run(src, replay.AnnounceLater)
			if err != nil {
				return err
			}
			printReplaySummary(g, sum)
			if err := replay.Switch(ctx, rt.Etcd, root, registrycopy.AcksRoot(rt.Cfg.Prefix), moved, fence); err != nil {
				return fmt.Errorf("the new target is filled and set in etcd, but the switch is not complete: %w "+
					"(the processes named still use the old target; once they follow, run `ofs replay` in place to catch up)", err)
			}
			for name, t := range moved {
				fmt.Fprintf(g.stdout, "Switched connection %q to %+v; every process acknowledged.\n", name, t)
			}
			if _, err := replay.AnnounceKept(ctx, src, src.Sarama, &sum); err != nil {
				return err
			}
			src.From = sum.Watermarks
			catchUp, err := run(src, replay.AnnounceWrites)
			if err != nil {
				return fmt.Errorf("the switch is done; the replay of what arrived in between failed (run it again in place): %w", err)
			}
			fmt.Fprintf(g.stdout, "Caught up from the watermark: %d events, %d blocks written.\n", catchUp.Read, catchUp.Written)
			return nil
		},
	}
	cf.register(cmd, false)
	cmd.Flags().StringSliceVar(&groups, "group", nil, "replay only these feature groups (repeatable)")
	cmd.Flags().StringVar(&intoPrefix, "into-prefix", "", "blue/green: fill the Redis connections under this new key prefix")
	cmd.Flags().StringVar(&intoKS, "into-keyspace", "", "blue/green: fill the Scylla connections in this new keyspace")
	cmd.Flags().BoolVar(&noSwitch, "no-switch", false, "blue/green: fill the new target but do not switch to it")
	cmd.Flags().DurationVar(&fence, "fence-timeout", 30*time.Second, "blue/green: how long every process has to acknowledge the switch")
	cmd.Flags().StringVar(&asOf, "as-of", "", "fill the store as it was at this time (RFC 3339), with --into-prefix or --into-keyspace")
	return cmd
}

// parseAsOf reads --as-of: RFC 3339, or "" for none.
func parseAsOf(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("--as-of %q: want an RFC 3339 time such as 2026-11-30T12:00:00Z", s)}
	}
	return t, nil
}

// blueGreen points the replay's stores at target for every configured
// connection it applies to and returns those connections' new targets.
func blueGreen(ctx context.Context, rt *node.Node, holder *schema.Holder, stores *connections.Set,
	current map[string]registrycopy.Target, target registrycopy.Target,
) (map[string]registrycopy.Target, error) {
	moved, err := replay.Plan(replayConnections(rt, current), target)
	if err != nil {
		return nil, usageError{err}
	}
	return moved, replay.Prepare(ctx, holder.Load(), stores, current, moved)
}

// replayConnections describes the configured connections as they point now.
func replayConnections(rt *node.Node, current map[string]registrycopy.Target) []replay.Connection {
	conns := make([]replay.Connection, 0, len(rt.Cfg.Stores))
	for name, c := range rt.Cfg.Stores {
		c = c.Retarget(current[name])
		rc := replay.Connection{Name: name, Redis: c.Redis != nil, Scylla: c.Scylla != nil}
		if c.Redis != nil {
			rc.KeyPrefix = c.Redis.KeyPrefix
		}
		conns = append(conns, rc)
	}
	return conns
}

func printReplaySummary(g *globals, s replay.Summary) {
	fmt.Fprintf(g.stdout, "Replayed %d events from %d partitions in %s: %d blocks written, %d skipped.\n",
		s.Read, s.Partitions, s.Elapsed.Round(time.Millisecond), s.Written, s.Skipped)
	if len(s.Rejected) > 0 {
		codes := make([]string, 0, len(s.Rejected))
		for c := range s.Rejected {
			codes = append(codes, string(c))
		}
		slices.Sort(codes)
		fmt.Fprintln(g.stdout, "Rejected events (already on the dead-letter topic from their first ingest):")
		for _, c := range codes {
			fmt.Fprintf(g.stdout, "  %-24s %d\n", c, s.Rejected[events.Code(c)])
		}
	}
}
