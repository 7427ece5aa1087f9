package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
)

func newRegistryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Read the registry of a running server",
	}
	cmd.AddCommand(newRegistryGet(g), newRegistryList(g))
	return cmd
}

func newRegistryGet(g *globals) *cobra.Command {
	var df dialFlags
	cmd := &cobra.Command{
		Use:       "get store|entity|group NAME",
		Short:     "Print one store, entity or feature group (with all its versions) as JSON",
		ValidArgs: []string{"store", "entity", "group"},
		Args:      cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return df.registry(cmd.Context(), func(ctx context.Context, client registryv1.RegistryServiceClient) error {
				return registryGet(ctx, g, client, args[0], args[1])
			})
		},
	}
	df.register(cmd)
	return cmd
}

func registryGet(ctx context.Context, g *globals, client registryv1.RegistryServiceClient, kind, name string) error {
	var m proto.Message
	switch kind {
	case "store":
		resp, err := client.GetStore(ctx, &registryv1.GetStoreRequest{Id: name})
		if err != nil {
			return err
		}
		m = resp.GetStore()
	case "entity":
		resp, err := client.GetEntity(ctx, &registryv1.GetEntityRequest{Name: name})
		if err != nil {
			return err
		}
		m = resp.GetEntity()
	case "group", "feature-group":
		resp, err := client.GetFeatureGroup(ctx, &registryv1.GetFeatureGroupRequest{
			Selector: &registryv1.GetFeatureGroupRequest_Name{Name: name}})
		if err != nil {
			return err
		}
		m = resp.GetFeatureGroup()
	default:
		return usageError{fmt.Errorf("unknown kind %q: store, entity or group", kind)}
	}
	b, err := protojson.MarshalOptions{Multiline: true, UseProtoNames: true}.Marshal(m)
	if err != nil {
		return err
	}
	fmt.Fprintln(g.stdout, string(b))
	return nil
}

func newRegistryList(g *globals) *cobra.Command {
	var df dialFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the stores, entities and feature groups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return df.registry(cmd.Context(), func(ctx context.Context, client registryv1.RegistryServiceClient) error {
				return registryList(ctx, g, client)
			})
		},
	}
	df.register(cmd)
	return cmd
}

func registryList(ctx context.Context, g *globals, client registryv1.RegistryServiceClient) error {
	resp, err := client.GetRegistry(ctx, &registryv1.GetRegistryRequest{})
	if err != nil {
		return err
	}
	r := resp.GetRegistry()
	w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "registry revision %d\n\n", r.GetRevision())
	fmt.Fprintln(w, "STORE\tKIND\tCONNECTION")
	for _, s := range r.GetStores() {
		fmt.Fprintf(w, "%s\t%s\t%s\n", s.GetId(), strings.ToLower(strings.TrimPrefix(s.GetKind().String(), "STORE_KIND_")), s.GetConnection())
	}
	fmt.Fprintln(w, "\nENTITY\tKEYS")
	for _, e := range r.GetEntities() {
		var keys []string
		for _, k := range e.GetKeyColumns() {
			keys = append(keys, k.GetName()+":"+strings.ToLower(strings.TrimPrefix(k.GetType().String(), "DATA_TYPE_")))
		}
		fmt.Fprintf(w, "%s\t%s\n", e.GetName(), strings.Join(keys, ","))
	}
	fmt.Fprintln(w, "\nFEATURE GROUP\tID\tENTITY\tSTORE\tVERSION\tFEATURES\tTTL")
	for _, fg := range r.GetFeatureGroups() {
		vs := fg.GetVersions()
		active := vs[len(vs)-1]
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%d\t%d\t%s\n", fg.GetName(), fg.GetId(), fg.GetEntity(), fg.GetStore(),
			active.GetNumber(), len(active.GetFeatures()), fg.GetTtl().AsDuration())
	}
	return w.Flush()
}
