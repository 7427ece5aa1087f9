package main

import (
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ofstack/ofs/topics"
)

func newTopics(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "Create and inspect the Kafka topics of ofs",
	}
	cmd.AddCommand(newTopicsEnsure(g), newTopicsList(g))
	return cmd
}

func newTopicsEnsure(g *globals) *cobra.Command {
	var cf configFlags
	cmd := &cobra.Command{
		Use:   "ensure",
		Short: "Create the topics that do not exist and check those that do",
		Long: "Create the topics of the configured prefix that do not exist, with the partitions and\n" +
			"settings of the configuration (kafka.feature_partitions, kafka.replication), and check\n" +
			"the partition count of those that do. Every ofs process does this when it starts.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, err := cf.Load()
			if err != nil {
				return err
			}
			sec, err := cfg.KafkaSecurity()
			if err != nil {
				return err
			}
			admin, err := topics.NewAdmin(cfg.Kafka.Brokers, sec)
			if err != nil {
				return err
			}
			defer admin.Close()
			specs := cfg.Names().Specs(cfg.Layout())
			if err := topics.Ensure(admin, specs); err != nil {
				return err
			}
			for _, s := range specs {
				fmt.Fprintf(g.stdout, "ok  %s (%d partitions)\n", s.Name, s.Partitions)
			}
			return nil
		},
	}
	cf.register(cmd, false)
	return cmd
}

func newTopicsList(g *globals) *cobra.Command {
	var cf configFlags
	var check bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the topics of ofs with their partitions, replication and cleanup policy",
		Long: "List the topics of the configured prefix: partitions, replication, the fewest in-sync\n" +
			"replicas of a partition (MIN-ISR), the partitions whose in-sync replicas are fewer than\n" +
			"their replicas (UNDER) and those without a leader (OFFLINE). With --check it exits\n" +
			"non-zero when a partition is under-replicated or offline.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, err := cf.Load()
			if err != nil {
				return err
			}
			names := cfg.Names()
			sec, err := cfg.KafkaSecurity()
			if err != nil {
				return err
			}
			admin, err := topics.NewAdmin(cfg.Kafka.Brokers, sec)
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
			slices.Sort(ours)
			health, err := topics.Describe(admin, ours)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TOPIC\tPARTITIONS\tREPLICATION\tMIN-ISR\tUNDER\tOFFLINE\tCLEANUP")
			var bad []error
			for _, h := range health {
				policy := "delete"
				if p := all[h.Name].ConfigEntries["cleanup.policy"]; p != nil {
					policy = *p
				}
				fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", h.Name, h.Partitions, h.Replication, h.MinISR,
					h.UnderReplicated, h.Offline, policy)
				if err := h.Check(); err != nil {
					bad = append(bad, err)
				}
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if check {
				return errors.Join(bad...)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "exit non-zero if a partition is under-replicated or offline")
	cf.register(cmd, false)
	return cmd
}
