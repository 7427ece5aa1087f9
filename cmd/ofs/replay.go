package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/processors/replay"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
	"github.com/ofstack/ofs/views/catalog"
	"github.com/ofstack/ofs/views/connections"
)

func newReplay(g *globals) *cobra.Command {
	var (
		cf         configFlags
		groups     []string
		intoPrefix string
		intoKS     string
		noSwitch   bool
		grace      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Rebuild online stores from the features topic, in place or blue/green",
		Long: "Read the features topic from its oldest offsets to the end found at start, validate every event\n" +
			"against the registry as the ingest processor does, and write the blocks.\n\n" +
			"In place (the default), the stores the connections point at now are written: last writer wins\n" +
			"by event time, so nothing newer is overwritten and running it twice changes nothing.\n\n" +
			"Blue/green: --into-prefix fills the Redis connections under a new key prefix, --into-keyspace the\n" +
			"Scylla connections in a new keyspace (tables are created). Once caught up, the connections are\n" +
			"switched to the new target through etcd: every server and ingest processor follows within a\n" +
			"moment; after --grace the topic is replayed once more into the new target, for what the old\n" +
			"target received in between. --no-switch fills the target and stops there.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if intoPrefix != "" && intoKS != "" {
				return usageError{errors.New("--into-prefix and --into-keyspace are two replays: run them one at a time")}
			}
			if strings.ContainsAny(intoPrefix, "{}") {
				return usageError{errors.New("--into-prefix may not contain braces")}
			}
			cfg, err := cf.Load()
			if err != nil {
				return err
			}
			rt, err := newRuntime(cfg, g)
			if err != nil {
				return err
			}
			defer rt.Close()
			grp, ctx := errgroup.WithContext(cmd.Context())
			defer grp.Wait() //nolint:errcheck // the watches end with ctx; their errors are not the replay's
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			holder, err := rt.watchRegistry(ctx, grp)
			if err != nil {
				return err
			}
			for _, name := range groups {
				if _, ok := holder.Load().FeatureGroup(name); !ok {
					return usageError{fmt.Errorf("--group %q: no such feature group", name)}
				}
			}
			// The stores the connections point at now, fixed for the whole
			// replay (the replay's own switch must not move them under it).
			root := catalog.ConnectionsRoot(cfg.Prefix)
			current, err := catalog.Targets(ctx, rt.etcd, root)
			if err != nil {
				return err
			}
			stores := connections.NewSet(cfg.Stores, holder, rt.log)
			defer stores.Close()
			stores.SetTargets(current)
			target := catalog.Target{KeyPrefix: intoPrefix, Keyspace: intoKS}
			moved := map[string]catalog.Target{}
			if target != (catalog.Target{}) {
				if moved, err = blueGreen(ctx, rt, holder, stores, current, target); err != nil {
					return err
				}
			}
			run := func() (replay.Summary, error) {
				sum, err := replay.Run(ctx, replay.Config{
					Brokers: cfg.Kafka.Brokers, Sarama: rt.sarama("ofs-replay"), Names: rt.names, Holder: holder, Groups: groups,
					Stores: func(s *schema.Store) (views.Store, error) { return stores.Connection(s.Connection, s.Kind) },
					Log:    rt.log,
					Progress: func(p replay.Progress) {
						fmt.Fprintf(g.stderr, "\rreplay: %d/%d events read, %d blocks written, %d skipped", p.Read, p.Total, p.Written, p.Skipped)
					},
				})
				fmt.Fprintln(g.stderr)
				return sum, err
			}
			sum, err := run()
			if err != nil {
				return err
			}
			printReplaySummary(g, sum)
			if len(moved) == 0 || noSwitch {
				if len(moved) > 0 {
					fmt.Fprintln(g.stdout, "Filled; not switched (--no-switch).")
				}
				return nil
			}
			for name, t := range moved {
				if err := catalog.SetTarget(ctx, rt.etcd, root, name, t); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "Switched connection %q to %+v.\n", name, t)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(grace):
			}
			sum, err = run()
			if err != nil {
				return fmt.Errorf("the switch is done; the replay of what arrived in between failed (run it again in place): %w", err)
			}
			printReplaySummary(g, sum)
			return nil
		},
	}
	cf.register(cmd, false)
	cmd.Flags().StringSliceVar(&groups, "group", nil, "replay only these feature groups (repeatable)")
	cmd.Flags().StringVar(&intoPrefix, "into-prefix", "", "blue/green: fill the Redis connections under this new key prefix")
	cmd.Flags().StringVar(&intoKS, "into-keyspace", "", "blue/green: fill the Scylla connections in this new keyspace")
	cmd.Flags().BoolVar(&noSwitch, "no-switch", false, "blue/green: fill the new target but do not switch to it")
	cmd.Flags().DurationVar(&grace, "grace", 5*time.Second, "blue/green: wait after the switch before the catch-up replay")
	return cmd
}

// blueGreen points the replay's stores at target for every configured
// connection it applies to and returns those connections' new targets.
func blueGreen(ctx context.Context, rt *runtime, holder *schema.Holder, stores *connections.Set,
	current map[string]catalog.Target, target catalog.Target,
) (map[string]catalog.Target, error) {
	conns := make([]replay.Connection, 0, len(rt.cfg.Stores))
	for name, c := range rt.cfg.Stores {
		c = c.Retarget(current[name])
		rc := replay.Connection{Name: name, Redis: c.Redis != nil, Scylla: c.Scylla != nil}
		if c.Redis != nil {
			rc.KeyPrefix = c.Redis.KeyPrefix
		}
		conns = append(conns, rc)
	}
	moved, err := replay.Plan(conns, target)
	if err != nil {
		return nil, usageError{err}
	}
	return moved, replay.Prepare(ctx, holder.Load(), stores, current, moved)
}

func printReplaySummary(g *globals, s replay.Summary) {
	fmt.Fprintf(g.stdout, "Replayed %d events from %d partitions in %s: %d blocks written, %d skipped.\n",
		s.Read, s.Partitions, s.Elapsed.Round(time.Millisecond), s.Written, s.Skipped)
	if len(s.Rejected) > 0 {
		codes := make([]string, 0, len(s.Rejected))
		for c := range s.Rejected {
			codes = append(codes, string(c))
		}
		sort.Strings(codes)
		fmt.Fprintln(g.stdout, "Rejected events (already on the dead-letter topic from their first ingest):")
		for _, c := range codes {
			fmt.Fprintf(g.stdout, "  %-24s %d\n", c, s.Rejected[events.Code(c)])
		}
	}
}
