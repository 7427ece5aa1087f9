package main

import (
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ofstack/ofs/topics"
)

// kafkaFlags are the flags of every subcommand that talks to Kafka.
type kafkaFlags struct {
	brokers string
	prefix  string
}

func (k *kafkaFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&k.brokers, "brokers", envOr("OFS_KAFKA_BROKERS", "127.0.0.1:9092"),
		"comma-separated Kafka bootstrap brokers (env OFS_KAFKA_BROKERS)")
	cmd.Flags().StringVar(&k.prefix, "prefix", envOr("OFS_PREFIX", topics.DefaultPrefix),
		"prefix of every topic and group name (env OFS_PREFIX)")
}

func (k *kafkaFlags) names() (topics.Names, []string, error) {
	n, err := topics.For(k.prefix)
	if err != nil {
		return topics.Names{}, nil, usageError{err}
	}
	b := splitList(k.brokers)
	if len(b) == 0 {
		return topics.Names{}, nil, usageError{fmt.Errorf("--brokers is empty")}
	}
	return n, b, nil
}

func newTopics(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "Create and inspect the Kafka topics of ofs",
	}
	cmd.AddCommand(newTopicsEnsure(g), newTopicsList(g))
	return cmd
}

func newTopicsEnsure(g *globals) *cobra.Command {
	var kf kafkaFlags
	var layout topics.Layout
	cmd := &cobra.Command{
		Use:   "ensure",
		Short: "Create the topics that do not exist and check those that do",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			names, brokers, err := kf.names()
			if err != nil {
				return err
			}
			admin, err := topics.NewAdmin(brokers)
			if err != nil {
				return err
			}
			defer admin.Close()
			specs := names.Specs(layout)
			if err := topics.Ensure(admin, specs); err != nil {
				return err
			}
			for _, s := range specs {
				fmt.Fprintf(g.stdout, "ok  %s (%d partitions)\n", s.Name, s.Partitions)
			}
			return nil
		},
	}
	kf.register(cmd)
	cmd.Flags().Int32Var(&layout.FeaturePartitions, "feature-partitions", 12, "partitions of the features topic")
	cmd.Flags().Int16Var(&layout.Replication, "replication", -1, "replication factor (-1: the broker's default)")
	return cmd
}

func newTopicsList(g *globals) *cobra.Command {
	var kf kafkaFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the topics of ofs with their partitions and cleanup policy",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			names, brokers, err := kf.names()
			if err != nil {
				return err
			}
			admin, err := topics.NewAdmin(brokers)
			if err != nil {
				return err
			}
			defer admin.Close()
			all, err := admin.ListTopics()
			if err != nil {
				return fmt.Errorf("list topics: %w", err)
			}
			var ours []string
			for _, s := range names.Specs(topics.Layout{}) {
				if _, ok := all[s.Name]; ok {
					ours = append(ours, s.Name)
				}
			}
			sort.Strings(ours)
			w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TOPIC\tPARTITIONS\tREPLICATION\tCLEANUP")
			for _, name := range ours {
				d := all[name]
				policy := "delete"
				if p := d.ConfigEntries["cleanup.policy"]; p != nil {
					policy = *p
				}
				fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", name, d.NumPartitions, d.ReplicationFactor, policy)
			}
			return w.Flush()
		},
	}
	kf.register(cmd)
	return cmd
}
