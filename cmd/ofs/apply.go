package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/ofstack/ofs/internal/plan"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
)

func newApply(g *globals) *cobra.Command {
	var (
		df     dialFlags
		file   string
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "apply -f registry.yaml",
		Short: "Make the registry match a file of stores, entities and feature groups",
		Long: "Read the desired stores, entities and feature groups from a YAML file, print the plan\n" +
			"(what is added, what changes and which new versions that makes), apply it and print the\n" +
			"outcome. Objects that the file does not name are left alone. Applying the same file\n" +
			"again changes nothing. Each object is applied only if nobody changed it since the plan.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageError{errors.New("-f is required")}
			}
			f, err := plan.ReadFile(file)
			if err != nil {
				return usageError{err}
			}
			cmds, err := f.Commands()
			if err != nil {
				return usageError{err}
			}
			return df.registry(cmd.Context(), func(ctx context.Context, client registryv1.RegistryServiceClient) error {
				return plan.Apply(ctx, g.stdout, client, file, cmds, dryRun, plan.CurrentActor())
			})
		},
	}
	df.register(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "the registry file (YAML)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	return cmd
}
