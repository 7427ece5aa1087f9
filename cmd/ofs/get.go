package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"

	"github.com/ofstack/ofs/internal/answer"
	"github.com/ofstack/ofs/internal/config"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
)

type getOptions struct {
	entity   string
	groups   []string
	features string
	asJSON   bool
	full     bool
}

func newGet(g *globals) *cobra.Command {
	var (
		df   dialFlags
		opts getOptions
	)
	cmd := &cobra.Command{
		Use:   "get --entity E --group G [--group G2] [--features a,b] KEY...",
		Short: "Print the stored feature values of entity keys, read through a running server",
		Long: `Call FeatureService.Retrieve on a running ofs server and print one row per KEY: the
key values, whether a block of each group was found, and each feature's value (a value
not found is the feature's default).

Each KEY argument is one entity key. The values of a composite key are separated by
commas, in the entity's key-column order; quote a value that holds a comma as in CSV:
  ofs get --entity user_item --group user_item_affinity 42,sku-1 '42,"a,b"'

--features picks features, in the order given; without it every feature of each
group's active version is printed. With several --group, name a feature as
group.feature. A feature name that several of the groups share is printed as
group.feature; others by their name.

The table shows the first 8 elements of a vector, then …; --full shows all.
--json prints one JSON object per key instead:
  {"keys":{"user_id":"42"},"found":{"user_profile":true},"values":{"age":31,...}}

The bearer token (--token, or env OFS_TOKEN) is sent as "authorization: Bearer"
metadata when the server requires one. --tls-ca (or --tls, for a certificate the
system trusts) connects with TLS; --tls-cert and --tls-key add a client certificate.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := opts.request(args)
			if err != nil {
				return usageError{err}
			}
			conn, err := df.dial()
			if err != nil {
				return err
			}
			defer conn.Close()
			ctx, cancel := df.context(cmd.Context())
			defer cancel()
			resp, err := featurev1.NewFeatureServiceClient(conn).Retrieve(ctx, req)
			if err != nil {
				return rpcError("retrieve", err)
			}
			keyNames := entityKeyNames(ctx, registryv1.NewRegistryServiceClient(conn), req)
			if opts.asJSON {
				return answer.JSON(g.stdout, req, resp, keyNames)
			}
			return answer.Table(g.stdout, req, resp, keyNames, opts.full)
		},
	}
	df.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&opts.entity, "entity", "", "the entity of the keys")
	fl.StringArrayVar(&opts.groups, "group", nil, "a feature group to read (repeatable)")
	fl.StringVar(&opts.features, "features", "", "comma-separated features to print (group.feature with several groups); default all")
	fl.BoolVar(&opts.asJSON, "json", false, "print JSON lines, one object per key")
	fl.BoolVar(&opts.full, "full", false, "print every element of a vector")
	return cmd
}

// request builds the Retrieve request of the command line.
func (o *getOptions) request(args []string) (*featurev1.RetrieveRequest, error) {
	if o.entity == "" {
		return nil, errors.New("--entity is required")
	}
	if len(o.groups) == 0 {
		return nil, errors.New("--group is required")
	}
	req := &featurev1.RetrieveRequest{Entity: o.entity, TypedValues: true}
	index := map[string]int{}
	for _, g := range o.groups {
		if _, dup := index[g]; dup {
			return nil, fmt.Errorf("--group %s is given twice", g)
		}
		index[g] = len(req.Groups)
		req.Groups = append(req.Groups, &featurev1.GroupSelection{FeatureGroup: g})
	}
	for _, f := range config.SplitList(o.features) {
		group, name, qualified := strings.Cut(f, ".")
		if !qualified {
			if len(o.groups) > 1 {
				return nil, fmt.Errorf("--features %s: with several groups, name it group.feature", f)
			}
			group, name = o.groups[0], f
		}
		i, ok := index[group]
		if !ok {
			return nil, fmt.Errorf("--features %s: %s is not one of the --group values", f, group)
		}
		req.Groups[i].Features = append(req.Groups[i].Features, name)
	}
	for _, g := range req.Groups {
		if o.features != "" && len(g.Features) == 0 {
			return nil, fmt.Errorf("--features names no feature of group %s", g.FeatureGroup)
		}
	}
	for _, a := range args {
		vals, err := parseKeyArg(a)
		if err != nil {
			return nil, err
		}
		req.Keys = append(req.Keys, &featurev1.EntityKey{Values: vals})
	}
	return req, nil
}

// parseKeyArg reads one key argument: values separated by commas, quoted as
// in CSV.
func parseKeyArg(a string) ([]string, error) {
	if a == "" {
		return nil, errors.New("a key argument is empty")
	}
	r := csv.NewReader(strings.NewReader(a))
	vals, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", a, err)
	}
	if _, err := r.Read(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("key %q holds a line break", a)
	}
	return vals, nil
}

// rpcError words a failed call by its status code and message.
func rpcError(op string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %s: %s", op, st.Code(), st.Message())
}

// entityKeyNames returns the names of the entity's key columns, or key1,
// key2, ... when the registry cannot say.
func entityKeyNames(ctx context.Context, reg registryv1.RegistryServiceClient, req *featurev1.RetrieveRequest) []string {
	n := len(req.GetKeys()[0].GetValues())
	resp, err := reg.GetEntity(ctx, &registryv1.GetEntityRequest{Name: req.GetEntity()})
	if err == nil && len(resp.GetEntity().GetKeyColumns()) == n {
		names := make([]string, n)
		for i, k := range resp.GetEntity().GetKeyColumns() {
			names[i] = k.GetName()
		}
		return names
	}
	names := make([]string, n)
	for i := range names {
		names[i] = "key" + strconv.Itoa(i+1)
	}
	return names
}
