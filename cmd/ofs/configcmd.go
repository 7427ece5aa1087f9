package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check the configuration",
	}
	var cf configFlags
	check := &cobra.Command{
		Use:   "check",
		Short: "Load the configuration as ofs serve and ofs process would, and print it or what is wrong",
		Long: "Load the configuration (defaults, the file of --config or OFS_CONFIG, the environment,\n" +
			"the flags), validate it, and print the result as YAML, with passwords and tokens\n" +
			"masked. Exits with 2, naming every problem, when the configuration is not valid:\n" +
			"a check for a deployment pipeline before any process starts.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, err := cf.Load()
			if err != nil {
				return err
			}
			if _, err := cfg.KafkaSecurity(); err != nil {
				return usageError{err}
			}
			if _, err := cfg.Etcd.TLS.Config(); err != nil {
				return usageError{fmt.Errorf("etcd.tls: %w", err)}
			}
			shown := cfg.Masked()
			enc := yaml.NewEncoder(g.stdout)
			enc.SetIndent(2)
			if err := enc.Encode(&shown); err != nil {
				return err
			}
			return enc.Close()
		},
	}
	cf.register(check, true)
	cmd.AddCommand(check)
	return cmd
}
