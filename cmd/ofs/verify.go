package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/ofstack/ofs/internal/node"
	"github.com/ofstack/ofs/processors/replay"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
	"github.com/ofstack/ofs/views/connections"
	"github.com/ofstack/ofs/views/registrycopy"
)

// errDrift is what `ofs verify` exits 1 with.
var errDrift = errors.New("the store differs from the log")

func newVerify(g *globals) *cobra.Command {
	var (
		cf         configFlags
		groups     []string
		intoPrefix string
		intoKS     string
		asOf       string
		diffs      int
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check that the stores hold the fold of the log (exit 1 on drift)",
		Long: "Fold the features topic up to the high watermark of every partition taken at start, exactly as\n" +
			"`ofs replay` does, and compare every row with the store the connections point at: rows, matches,\n" +
			"missing, stale and differing rows and a checksum of each side per group, and the first --diffs\n" +
			"differing keys with both rows decoded. Exit 1 on drift.\n\n" +
			"On a live system, a store row with a later event time than the fold's was written after the\n" +
			"watermark and is counted as NEWER, not as drift; an expired row is not expected in the store.\n" +
			"With --as-of TIME (and --into-prefix or --into-keyspace: the store an `ofs replay --as-of` filled),\n" +
			"the fold is the store as it was at TIME and nothing may be newer.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			at, err := parseAsOf(asOf)
			if err != nil {
				return err
			}
			rt, err := cf.runtime(g)
			if err != nil {
				return err
			}
			defer rt.Close()
			grp, ctx := errgroup.WithContext(cmd.Context())
			defer grp.Wait() //nolint:errcheck // the watch ends with ctx; its errors are not the verification's
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			holder, err := rt.WatchRegistry(ctx, grp)
			if err != nil {
				return err
			}
			stores, err := verifyStores(ctx, rt, holder, registrycopy.Target{KeyPrefix: intoPrefix, Keyspace: intoKS})
			if err != nil {
				return err
			}
			defer stores.Close()
			bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(g.stderr), progressbar.OptionSetDescription("verify"),
				progressbar.OptionThrottle(250*time.Millisecond), progressbar.OptionSetVisibility(isTerminal(g.stderr)),
				progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
			report, err := replay.Verify(ctx, replay.VerifyConfig{
				Source: replay.Source{Brokers: rt.Cfg.Kafka.Brokers, Sarama: rt.Sarama("ofs-verify"), Names: rt.Names, Groups: groups, AsOf: at},
				Stores: func(s *schema.Store) (views.Store, error) { return stores.Connection(s.Connection, s.Kind) },
				Diffs:  diffs,
				Progress: func(p replay.VerifyProgress) {
					bar.ChangeMax64(p.Total)
					_ = bar.Set64(p.Read) // a progress bar's write error is no reason to stop
				},
			})
			_ = bar.Finish()
			if errors.Is(err, replay.ErrNoGroup) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			if err := report.Print(g.stdout); err != nil {
				return err
			}
			if n := report.Drift(); n > 0 {
				return fmt.Errorf("%w: %d rows", errDrift, n)
			}
			return nil
		},
	}
	cf.register(cmd, false)
	cmd.Flags().StringSliceVar(&groups, "group", nil, "verify only these feature groups (repeatable)")
	cmd.Flags().StringVar(&intoPrefix, "into-prefix", "", "verify the Redis connections under this key prefix (what `replay --into-prefix` filled)")
	cmd.Flags().StringVar(&intoKS, "into-keyspace", "", "verify the Scylla connections in this keyspace")
	cmd.Flags().StringVar(&asOf, "as-of", "", "compare with the store as it was at this time (RFC 3339)")
	cmd.Flags().IntVar(&diffs, "diffs", 10, "how many differing keys to show")
	return cmd
}

// verifyStores opens the stores the connections point at now, or at target.
func verifyStores(ctx context.Context, rt *node.Node, holder *schema.Holder, target registrycopy.Target) (*connections.Set, error) {
	current, err := registrycopy.Targets(ctx, rt.Etcd, registrycopy.ConnectionsRoot(rt.Cfg.Prefix))
	if err != nil {
		return nil, err
	}
	stores := connections.NewSet(rt.Cfg.Stores, holder, rt.Log)
	stores.SetTargets(current)
	if target == (registrycopy.Target{}) {
		return stores, nil
	}
	moved, err := replay.Plan(replayConnections(rt, current), target)
	if errors.Is(err, replay.ErrSameTarget) {
		return stores, nil // the target is where the connections point now
	}
	if err != nil {
		stores.Close()
		return nil, usageError{err}
	}
	for name, t := range moved {
		current[name] = t
	}
	stores.SetTargets(current)
	return stores, nil
}
