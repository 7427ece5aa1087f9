// Package devmode is the demo of `ofs dev`: once the in-process broker,
// etcd, processors and server run, it applies the example registry,
// publishes sample events, prints what Retrieve answers for them, and says
// how to reach each part, with command lines that work on a fresh machine.
// The command, its flags and the parts it starts are wired in cmd/ofs.
package devmode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ofstack/ofs/examples"
	"github.com/ofstack/ofs/internal/answer"
	"github.com/ofstack/ofs/internal/node"
	"github.com/ofstack/ofs/internal/plan"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
	"github.com/ofstack/ofs/topics"
)

// Demo is what `ofs dev` shows once its parts run: where they listen, and
// whether to apply the example registry and publish sample events.
type Demo struct {
	Out                                io.Writer
	Node                               *node.Node
	GRPCAddr, MetricsAddr, ConsoleAddr string
	// NoData skips the example registry and the sample events.
	NoData bool
	// Started is when ofs dev started, for the time it took to come up.
	Started time.Time
	// Dir holds the broker's log, etcd and the store; Kept says it stays
	// after exit.
	Dir  string
	Kept bool
}

// Run waits until the server serves, applies the example registry,
// publishes sample events, prints what Retrieve answers, and says what to
// do next.
func (d Demo) Run(ctx context.Context) error {
	rt, dir, kept := d.Node, d.Dir, d.Kept
	conn, err := grpc.NewClient(d.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := waitHealthy(ctx, conn); err != nil {
		return err
	}
	out := d.Out
	fmt.Fprintf(out, "ofs dev is up in %s: broker, etcd, registry and ingest processors, and the gRPC server, in one process.\n\n",
		time.Since(d.Started).Round(time.Millisecond))
	if !d.NoData {
		if err := demoData(ctx, out, rt, conn); err != nil {
			return err
		}
	}
	printNextSteps(out, nextSteps{
		ofs:     selfCommand(),
		brokers: strings.Join(rt.Cfg.Kafka.Brokers, ","),
		etcd:    strings.Join(rt.Cfg.Etcd.Endpoints, ","),
		grpc:    d.GRPCAddr,
		metrics: d.MetricsAddr,
		topic:   string(rt.Names.Features),
		console: d.ConsoleAddr,
	})
	if kept {
		fmt.Fprintf(out, "Kept on disk in %s: the broker's log, etcd and the feature store; a new `ofs dev --dir %s` starts from them.\n", dir, dir)
	} else {
		fmt.Fprintf(out, "Nothing is kept: the broker, etcd and the store live in %s, removed on exit (use --dir to keep them).\n", dir)
	}
	fmt.Fprintln(out, "Press Ctrl-C to stop.")
	return nil
}

func waitHealthy(ctx context.Context, conn *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	h := healthpb.NewHealthClient(conn)
	for {
		resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the server did not become healthy: %w", errors.Join(err, ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// demoData applies the example registry, publishes a few events and prints
// them back through Retrieve.
func demoData(ctx context.Context, out io.Writer, rt *node.Node, conn *grpc.ClientConn) error {
	reg := registryv1.NewRegistryServiceClient(conn)
	f, err := plan.ParseFile("examples/registry.yaml", examples.Registry)
	if err != nil {
		return err
	}
	cmds, err := f.Commands()
	if err != nil {
		return err
	}
	if err := plan.Apply(ctx, out, reg, "examples/registry.yaml", cmds, false, plan.CurrentActor()); err != nil {
		return err
	}

	producer, err := sarama.NewSyncProducer(rt.Cfg.Kafka.Brokers, rt.Sarama("ofs-dev-demo"))
	if err != nil {
		return err
	}
	defer producer.Close()
	users := make([]string, 0, 4) // with room for the key that has no data
	users = append(users, "1", "2", "3")
	var msgs []*sarama.ProducerMessage
	for i, u := range users {
		for group, values := range map[string]string{
			"user_profile":  fmt.Sprintf(`{"age":%d,"country":%q,"is_premium":%t,"lifetime_value":%g,"embedding":[%s]}`, 25+i*7, []string{"DE", "IN", "BR"}[i], i%2 == 0, 120.5*float64(i+1), embeddingText(i)),
			"user_activity": fmt.Sprintf(`{"clicks_1h":%d,"views_1h":%d,"ctr_1h":%g}`, 3*(i+1), 40*(i+1), float64(3*(i+1))/float64(40*(i+1))),
		} {
			msgs = append(msgs, &sarama.ProducerMessage{
				Topic: string(rt.Names.Features),
				Key:   sarama.StringEncoder(topics.FeatureKey("user", group, u)),
				Value: sarama.StringEncoder(fmt.Sprintf(`{"entity":"user","keys":{"user_id":%s},"feature_group":%q,"values":%s}`, u, group, values)),
			})
		}
	}
	if err := producer.SendMessages(msgs); err != nil {
		return fmt.Errorf("publish the sample events: %w", err)
	}
	fmt.Fprintf(out, "\nPublished %d sample events to %s (JSON, as kcat or a Spark job would).\n", len(msgs), rt.Names.Features)

	fs := featurev1.NewFeatureServiceClient(conn)
	req := &featurev1.RetrieveRequest{Entity: "user", KeyValues: append(users, "404"), TypedValues: true,
		Groups: []*featurev1.GroupSelection{
			{FeatureGroup: "user_profile", Features: []string{"age", "country", "is_premium", "embedding"}},
			{FeatureGroup: "user_activity"},
		}}
	deadline := time.Now().Add(time.Minute)
	var resp *featurev1.RetrieveResponse
	for {
		resp, err = fs.Retrieve(ctx, req)
		if err != nil {
			return fmt.Errorf("retrieve: %w", err)
		}
		if allFound(resp, len(users)) {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the sample events were not ingested within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintln(out, "Retrieve of users 1, 2, 3 and 404 (which has no data, so it gets the defaults):")
	fmt.Fprintln(out)
	keyReq := &featurev1.RetrieveRequest{Entity: req.GetEntity(), Groups: req.GetGroups()}
	for _, k := range req.GetKeyValues() {
		keyReq.Keys = append(keyReq.Keys, &featurev1.EntityKey{Values: []string{k}})
	}
	return answer.Table(out, keyReq, resp, []string{"user_id"}, false)
}

func allFound(resp *featurev1.RetrieveResponse, n int) bool {
	for _, r := range resp.GetRows()[:n] {
		for _, f := range r.GetFound() {
			if !f {
				return false
			}
		}
	}
	return true
}

func embeddingText(i int) string {
	parts := make([]string, 16)
	for k := range parts {
		parts[k] = strconv.FormatFloat(float64(i)+float64(k)/16, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

// LoopbackPort returns the port of addr, which must be a loopback address.
func LoopbackPort(addr string) (int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return 0, fmt.Errorf("%s is not a loopback address", addr)
	}
	return strconv.Atoi(port)
}
