package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
)

// vectorShown is how many elements of a vector the table shows without --full.
const vectorShown = 8

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
				return printGetJSON(g.stdout, req, resp, keyNames)
			}
			return printGetTable(g.stdout, req, resp, keyNames, opts.full)
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
	for _, f := range splitList(o.features) {
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

// columnNames names the columns of the answer: the feature's name, or
// group.feature when several groups of the answer have a feature of that
// name.
func columnNames(cols []*featurev1.Column) []string {
	count := map[string]int{}
	for _, c := range cols {
		count[c.GetName()]++
	}
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.GetName()
		if count[c.GetName()] > 1 {
			out[i] = c.GetFeatureGroup() + "." + c.GetName()
		}
	}
	return out
}

func printGetTable(w io.Writer, req *featurev1.RetrieveRequest, resp *featurev1.RetrieveResponse, keyNames []string, full bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := append([]string(nil), keyNames...)
	for _, g := range req.GetGroups() {
		if len(req.GetGroups()) == 1 {
			head = append(head, "found")
		} else {
			head = append(head, "found:"+g.GetFeatureGroup())
		}
	}
	head = append(head, columnNames(resp.GetColumns())...)
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for i, row := range resp.GetRows() {
		cells := append([]string(nil), req.GetKeys()[i].GetValues()...)
		for _, f := range row.GetFound() {
			cells = append(cells, strconv.FormatBool(f))
		}
		for _, v := range row.GetValues() {
			cells = append(cells, textValue(v, full))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// textValue formats a value for the table: a vector as [a b c …].
func textValue(v *featurev1.Value, full bool) string {
	elems, isList := listElems(v)
	if !isList {
		s := elems[0]
		if v.GetKind() != nil {
			if _, isStr := v.GetKind().(*featurev1.Value_StringValue); isStr && (s == "" || strings.ContainsAny(s, " \t\n\"")) {
				return strconv.Quote(s)
			}
		}
		return s
	}
	if !full && len(elems) > vectorShown {
		elems = append(elems[:vectorShown:vectorShown], "…")
	}
	return "[" + strings.Join(elems, " ") + "]"
}

// listElems returns the elements of v as text, and whether v is a vector.
func listElems(v *featurev1.Value) ([]string, bool) {
	f32 := func(x float32) string { return strconv.FormatFloat(float64(x), 'g', -1, 32) }
	f64 := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	switch k := v.GetKind().(type) {
	case *featurev1.Value_BoolValue:
		return []string{strconv.FormatBool(k.BoolValue)}, false
	case *featurev1.Value_Int64Value:
		return []string{strconv.FormatInt(k.Int64Value, 10)}, false
	case *featurev1.Value_Uint64Value:
		return []string{strconv.FormatUint(k.Uint64Value, 10)}, false
	case *featurev1.Value_FloatValue:
		return []string{f32(k.FloatValue)}, false
	case *featurev1.Value_DoubleValue:
		return []string{f64(k.DoubleValue)}, false
	case *featurev1.Value_StringValue:
		return []string{k.StringValue}, false
	case *featurev1.Value_BoolList:
		return mapStrings(k.BoolList.GetValues(), strconv.FormatBool), true
	case *featurev1.Value_Int64List:
		return mapStrings(k.Int64List.GetValues(), func(x int64) string { return strconv.FormatInt(x, 10) }), true
	case *featurev1.Value_Uint64List:
		return mapStrings(k.Uint64List.GetValues(), func(x uint64) string { return strconv.FormatUint(x, 10) }), true
	case *featurev1.Value_FloatList:
		return mapStrings(k.FloatList.GetValues(), f32), true
	case *featurev1.Value_DoubleList:
		return mapStrings(k.DoubleList.GetValues(), f64), true
	case *featurev1.Value_StringList:
		return mapStrings(k.StringList.GetValues(), strconv.Quote), true
	}
	return []string{"-"}, false
}

func mapStrings[T any](xs []T, f func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func printGetJSON(w io.Writer, req *featurev1.RetrieveRequest, resp *featurev1.RetrieveResponse, keyNames []string) error {
	names := columnNames(resp.GetColumns())
	var b bytes.Buffer
	for i, row := range resp.GetRows() {
		b.Reset()
		b.WriteString(`{"keys":{`)
		for j, v := range req.GetKeys()[i].GetValues() {
			writeMember(&b, j, keyNames[j], v)
		}
		b.WriteString(`},"found":{`)
		for j, f := range row.GetFound() {
			writeMember(&b, j, req.GetGroups()[j].GetFeatureGroup(), f)
		}
		b.WriteString(`},"values":{`)
		for j, v := range row.GetValues() {
			writeMember(&b, j, names[j], jsonValue(v))
		}
		b.WriteString("}}\n")
		if _, err := w.Write(b.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// writeMember writes "name":value, preceded by a comma unless it is the
// first member.
func writeMember(b *bytes.Buffer, i int, name string, v any) {
	if i > 0 {
		b.WriteByte(',')
	}
	k, _ := json.Marshal(name) // a string always marshals
	b.Write(k)
	b.WriteByte(':')
	val, err := json.Marshal(v)
	if err != nil {
		val, _ = json.Marshal(fmt.Sprint(v)) // a string always marshals
	}
	b.Write(val)
}

// jsonValue returns v as a value encoding/json writes exactly: floats in
// the shortest text of their width, non-finite ones as strings.
func jsonValue(v *featurev1.Value) any {
	f32 := func(x float32) any { return jsonFloat(float64(x), 32) }
	f64 := func(x float64) any { return jsonFloat(x, 64) }
	switch k := v.GetKind().(type) {
	case *featurev1.Value_BoolValue:
		return k.BoolValue
	case *featurev1.Value_Int64Value:
		return k.Int64Value
	case *featurev1.Value_Uint64Value:
		return k.Uint64Value
	case *featurev1.Value_FloatValue:
		return f32(k.FloatValue)
	case *featurev1.Value_DoubleValue:
		return f64(k.DoubleValue)
	case *featurev1.Value_StringValue:
		return k.StringValue
	case *featurev1.Value_BoolList:
		return k.BoolList.GetValues()
	case *featurev1.Value_Int64List:
		return k.Int64List.GetValues()
	case *featurev1.Value_Uint64List:
		return k.Uint64List.GetValues()
	case *featurev1.Value_FloatList:
		return mapAny(k.FloatList.GetValues(), f32)
	case *featurev1.Value_DoubleList:
		return mapAny(k.DoubleList.GetValues(), f64)
	case *featurev1.Value_StringList:
		return k.StringList.GetValues()
	}
	return nil
}

func jsonFloat(x float64, bits int) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return strconv.FormatFloat(x, 'g', -1, bits)
	}
	return json.Number(strconv.FormatFloat(x, 'g', -1, bits))
}

func mapAny[T any](xs []T, f func(T) any) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}
