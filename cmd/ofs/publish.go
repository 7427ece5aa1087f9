package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ofstack/ofs/internal/config"
	"github.com/ofstack/ofs/internal/node"
	"github.com/ofstack/ofs/internal/publish"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views/registrycopy"
)

// errPublishFailed is returned when some events were not sent.
var errPublishFailed = errors.New("some events were not sent")

// countEvery is how often counts are printed when the progress bar is off.
const countEvery = 5 * time.Second

type publishOptions struct {
	format     string
	entity     string
	group      string
	timeUnit   string
	noValidate bool
	quiet      bool
}

func newPublish(g *globals) *cobra.Command {
	var (
		cf   configFlags
		opts publishOptions
	)
	cmd := &cobra.Command{
		Use:   "publish FILE|-",
		Short: "Produce feature events from JSON lines or CSV to the features topic",
		Long: `Read feature events from FILE (or standard input with -) and produce them to the
features topic, keyed by entity, feature group and key values, with the content-type
header. The file is streamed: memory stays bounded whatever its size.

--format json (the default): one event per line in the JSON form of docs/kafka.md, e.g.
  {"entity":"user","keys":{"user_id":42},"feature_group":"user_profile",
   "event_time":"2026-11-25T10:00:00Z","values":{"age":31,"country":"DE"}}
Blank lines are skipped. Each line is sent as it is (application/json).

--format csv --entity E --group G: a header row, then one event per row. Columns are
named after the entity's key columns (all required), the features of the group's
active version (any subset, any order) and optionally event_time. A vector cell is a
JSON array such as [0.1,0.2]; a bool is true/false/1/0; an empty cell leaves the
feature out, so it takes its default (a string feature cannot be set to "" from CSV).
event_time is RFC 3339 (2026-11-25T10:00:00Z) or an integer count of --time-unit
since the Unix epoch; an empty or missing event_time means the time of publishing.
Rows are sent as protobuf FeatureEvents (application/x-protobuf).

Every event is checked against the registry (read from etcd once at start) before it is
sent; a bad one is reported with its line number and reason and not sent. With
--no-validate JSON lines are sent as they are, as kcat would, and the ingest processor
dead-letters the bad ones (CSV rows still need the registry for their types).

A progress bar is drawn on standard error when it is a terminal and --quiet is not
given; otherwise the counts are printed every 5s. At the end "sent=N failed=M" is
printed; the exit status is 1 when any event failed. SIGINT stops reading; what was
read is still sent before ofs exits.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.check(); err != nil {
				return usageError{err}
			}
			cfg, err := cf.Load()
			if err != nil {
				return err
			}
			return runPublish(cmd.Context(), g, cfg, opts, args[0])
		},
	}
	cf.register(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&opts.format, "format", "json", "input format: json (JSON lines) or csv (with a header row)")
	fl.StringVar(&opts.entity, "entity", "", "entity of the CSV rows")
	fl.StringVar(&opts.group, "group", "", "feature group of the CSV rows")
	fl.StringVar(&opts.timeUnit, "time-unit", "s", "unit of a numeric CSV event_time: s, ms or us")
	fl.BoolVar(&opts.noValidate, "no-validate", false, "send without checking events against the registry")
	fl.BoolVarP(&opts.quiet, "quiet", "q", false, "no progress bar; print counts every 5s instead")
	return cmd
}

func (o *publishOptions) check() error {
	switch o.format {
	case "json":
		if o.entity != "" || o.group != "" {
			return errors.New("--entity and --group are for --format csv; a JSON event names its own")
		}
	case "csv":
		if o.entity == "" || o.group == "" {
			return errors.New("--format csv needs --entity and --group")
		}
		if _, err := parseTimeUnit(o.timeUnit); err != nil {
			return err
		}
	default:
		return fmt.Errorf("--format is %q, want json or csv", o.format)
	}
	return nil
}

func parseTimeUnit(s string) (time.Duration, error) {
	switch s {
	case "s":
		return time.Second, nil
	case "ms":
		return time.Millisecond, nil
	case "us", "µs":
		return time.Microsecond, nil
	}
	return 0, fmt.Errorf("--time-unit is %q, want s, ms or us", s)
}

func runPublish(ctx context.Context, g *globals, cfg *config.Config, opts publishOptions, path string) error {
	in, size, err := openInput(path)
	if err != nil {
		return usageError{err}
	}
	defer in.Close()

	rt, err := node.New(cfg, g.stderr)
	if err != nil {
		return err
	}
	defer rt.Close()
	lctx, cancel := context.WithTimeout(ctx, cfg.Etcd.DialTimeout)
	reg, err := registrycopy.Load(lctx, rt.Etcd, cfg.EtcdRoot())
	cancel()
	if err != nil {
		return fmt.Errorf("read the registry: %w", err)
	}
	snap := schema.NewSnapshot(reg)

	var src publish.Reader
	if opts.format == "csv" {
		unit, _ := parseTimeUnit(opts.timeUnit) // checked by opts.check
		src, err = publish.NewCSVReader(in, snap, opts.entity, opts.group, unit)
		if err != nil {
			return usageError{err}
		}
	} else {
		src = publish.NewJSONLinesReader(in)
	}

	producer, err := publish.NewFeatureProducer(cfg.Kafka.Brokers, string(rt.Names.Features), rt.Sarama("ofs-publish"))
	if err != nil {
		return err
	}
	p := publish.NewPublisher(string(rt.Names.Features), snap, !opts.noValidate, producer, newProgress(g.stderr, size, opts.quiet))
	interrupted := p.Run(ctx, src)
	fmt.Fprintf(g.stdout, "sent=%d failed=%d\n", p.Sent(), p.Failed())
	switch {
	case p.Failed() > 0:
		return fmt.Errorf("%w: %d of %d failed", errPublishFailed, p.Failed(), p.Sent()+p.Failed())
	case interrupted:
		return fmt.Errorf("interrupted after line %d; the events read before were sent", p.LastLine())
	}
	return nil
}

// openInput opens path, or standard input for "-", and returns its size
// when it is a regular file (else -1).
func openInput(path string) (io.ReadCloser, int64, error) {
	if path == "-" {
		return io.NopCloser(os.Stdin), -1, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	return f, size, nil
}
