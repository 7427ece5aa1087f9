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
)

func newReplay(g *globals) *cobra.Command {
	var (
		cf         configFlags
		groups     []string
		intoPrefix string
		intoKS     string
	)
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Rebuild online stores from the features topic",
		Long: "Read the features topic from its oldest offsets to the end found at start, validate every event\n" +
			"against the registry as the ingest processor does, and write the blocks.\n\n" +
			"In place (the default), the configured stores are written: last writer wins by event time, so\n" +
			"nothing newer is overwritten and running it twice changes nothing.\n\n" +
			"Blue/green: --into-prefix writes the Redis stores under a new key prefix instead, --into-keyspace\n" +
			"the Scylla stores into a new keyspace (tables are created). Once it has caught up, point the\n" +
			"connection's key_prefix or keyspace at it in the configuration of the servers and the ingest\n" +
			"processors and restart them; run the replay once more afterwards to pick up what arrived in between.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			holder, err := rt.watchRegistry(ctx, grp)
			if err != nil {
				return err
			}
			for _, name := range groups {
				if _, ok := holder.Load().FeatureGroup(name); !ok {
					return usageError{fmt.Errorf("--group %q: no such feature group", name)}
				}
			}
			stores, err := replayTargets(ctx, rt, holder, intoPrefix, intoKS)
			if err != nil {
				return err
			}
			defer stores.Close()
			sum, err := replay.Run(ctx, replay.Config{
				Brokers: cfg.Kafka.Brokers, Names: rt.names, Holder: holder, Groups: groups,
				Stores: func(s *schema.Store) (views.Store, error) { return stores.Connection(s.Connection, s.Kind) },
				Log:    rt.log,
				Progress: func(p replay.Progress) {
					fmt.Fprintf(g.stderr, "\rreplay: %d/%d events read, %d blocks written, %d skipped", p.Read, p.Total, p.Written, p.Skipped)
				},
			})
			fmt.Fprintln(g.stderr)
			if err != nil {
				return err
			}
			printReplaySummary(g, sum)
			switch {
			case intoPrefix != "":
				fmt.Fprintf(g.stdout, "Caught up. To switch, set redis.key_prefix to %q in the servers' and processors' configuration,\n"+
					"restart them, and run this replay once more to pick up what arrived in between.\n", intoPrefix)
			case intoKS != "":
				fmt.Fprintf(g.stdout, "Caught up. To switch, set scylla.keyspace to %q in the servers' and processors' configuration,\n"+
					"restart them, and run this replay once more to pick up what arrived in between.\n", intoKS)
			}
			// The registry watch ends with the command.
			return nil
		},
	}
	cf.register(cmd, false)
	cmd.Flags().StringSliceVar(&groups, "group", nil, "replay only these feature groups (repeatable)")
	cmd.Flags().StringVar(&intoPrefix, "into-prefix", "", "blue/green: write Redis stores under this new key prefix")
	cmd.Flags().StringVar(&intoKS, "into-keyspace", "", "blue/green: write Scylla stores into this new keyspace")
	return cmd
}

// replayTargets returns the stores to write: the configured ones, or for a
// blue/green replay the same connections under a new prefix or keyspace.
func replayTargets(ctx context.Context, rt *runtime, holder *schema.Holder, prefix, keyspace string) (*storeSet, error) {
	if prefix == "" && keyspace == "" {
		return newStoreSet(rt.cfg.Stores, holder, rt.log), nil
	}
	if prefix != "" && strings.ContainsAny(prefix, "{}") {
		return nil, usageError{errors.New("--into-prefix may not contain braces")}
	}
	cfgs := StoreConfigs{}
	for name, c := range rt.cfg.Stores {
		switch {
		case c.Redis != nil && prefix != "":
			r := *c.Redis
			if r.KeyPrefix == prefix {
				return nil, usageError{fmt.Errorf("connection %q already uses prefix %q", name, prefix)}
			}
			r.KeyPrefix = prefix
			cfgs[name] = StoreConfig{Redis: &r}
		case c.Scylla != nil && keyspace != "":
			s := *c.Scylla
			s.Keyspace = keyspace
			cfgs[name] = StoreConfig{Scylla: &s}
		}
	}
	set := newStoreSet(cfgs, holder, rt.log)
	// A new keyspace needs its tables before the first write.
	snap := holder.Load()
	for _, st := range snap.Registry().Stores() {
		if st.Kind != schema.Scylla || keyspace == "" {
			continue
		}
		s, err := set.Connection(st.Connection, st.Kind)
		if err != nil {
			return nil, err
		}
		if sc, ok := s.(*views.Scylla); ok {
			if err := sc.EnsureTables(ctx, scyllaTables(snap)...); err != nil {
				return nil, err
			}
		}
	}
	return set, nil
}

// scyllaTables are the tables of every entity.
func scyllaTables(snap *schema.Snapshot) []views.Table {
	out := make([]views.Table, 0, len(snap.Registry().Entities()))
	for _, e := range snap.Registry().Entities() {
		t := views.Table{Entity: e.Name}
		for _, k := range e.Keys {
			t.Keys = append(t.Keys, views.KeyColumn{Name: k.Name, Type: k.Type})
		}
		out = append(out, t)
	}
	return out
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
