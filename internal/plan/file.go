// Package plan reads registry files (the declarative YAML of stores,
// entities and feature groups) and plans and applies them against a
// registry: what `ofs apply` prints and the console shows.
package plan

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
	"github.com/ofstack/ofs/schema"
)

// File is the declarative form of a registry that `ofs apply` reads: the
// desired state of some stores, entities and feature groups. Objects not in
// the file are left alone.
type File struct {
	Stores        []storeSpec  `yaml:"stores"`
	Entities      []entitySpec `yaml:"entities"`
	FeatureGroups []groupSpec  `yaml:"feature_groups"`
}

type storeSpec struct {
	ID         string `yaml:"id"`
	Kind       string `yaml:"kind"`
	Connection string `yaml:"connection"`
}

type keySpec struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
}

type entitySpec struct {
	Name        string            `yaml:"name"`
	Keys        []keySpec         `yaml:"keys"`
	Description string            `yaml:"description"`
	Tags        map[string]string `yaml:"tags"`
}

type cacheSpec struct {
	L1  bool          `yaml:"l1"`
	L2  bool          `yaml:"l2"`
	TTL time.Duration `yaml:"ttl"`
}

type featureSpec struct {
	Name         string            `yaml:"name"`
	Type         string            `yaml:"type"`
	VectorLength uint32            `yaml:"vector_length"`
	Default      yaml.Node         `yaml:"default"`
	Description  string            `yaml:"description"`
	Tags         map[string]string `yaml:"tags"`
}

type groupSpec struct {
	Name        string            `yaml:"name"`
	Entity      string            `yaml:"entity"`
	ID          uint32            `yaml:"id"`
	Store       string            `yaml:"store"`
	TTL         time.Duration     `yaml:"ttl"`
	Cache       cacheSpec         `yaml:"cache"`
	Description string            `yaml:"description"`
	Tags        map[string]string `yaml:"tags"`
	Features    []featureSpec     `yaml:"features"`
}

// ReadFile parses a registry file; unknown fields are errors, so a typo
// never passes silently.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseFile(path, b)
}

// ParseFile parses the registry file named path whose content is b.
func ParseFile(path string, b []byte) (*File, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &f, nil
}

// Commands turns the file into declarative commands, in dependency order:
// stores, entities, feature groups.
func (f *File) Commands() ([]*registryv1.Command, error) {
	var cmds []*registryv1.Command
	for _, s := range f.Stores {
		kind, ok := registryv1.StoreKind_value["STORE_KIND_"+strings.ToUpper(s.Kind)]
		if !ok {
			return nil, fmt.Errorf("store %q: unknown kind %q (redis, dragonfly or scylla)", s.ID, s.Kind)
		}
		cmds = append(cmds, &registryv1.Command{Command: &registryv1.Command_ApplyStore{ApplyStore: &registryv1.ApplyStore{
			Id: s.ID, Kind: registryv1.StoreKind(kind), Connection: s.Connection}}})
	}
	for _, e := range f.Entities {
		ae := &registryv1.ApplyEntity{Name: e.Name, Description: e.Description, Tags: e.Tags}
		for _, k := range e.Keys {
			t, err := schema.ParseDataType(k.Type)
			if err != nil {
				return nil, fmt.Errorf("entity %q key %q: %w", e.Name, k.Name, err)
			}
			ae.KeyColumns = append(ae.KeyColumns, &registryv1.KeyColumn{Name: k.Name, Type: schema.DataTypeToProto(t)})
		}
		cmds = append(cmds, &registryv1.Command{Command: &registryv1.Command_ApplyEntity{ApplyEntity: ae}})
	}
	for _, g := range f.FeatureGroups {
		ag := &registryv1.ApplyFeatureGroup{
			Name: g.Name, Entity: g.Entity, Id: g.ID, Store: g.Store, Ttl: durationpb.New(g.TTL),
			CachePolicy: &registryv1.CachePolicy{L1: g.Cache.L1, L2: g.Cache.L2, Ttl: durationpb.New(g.Cache.TTL)},
			Description: g.Description, Tags: g.Tags,
		}
		for _, fs := range g.Features {
			t, err := schema.ParseDataType(fs.Type)
			if err != nil {
				return nil, fmt.Errorf("feature group %q feature %q: %w", g.Name, fs.Name, err)
			}
			def, err := defaultValue(t, &fs.Default)
			if err != nil {
				return nil, fmt.Errorf("feature group %q feature %q: default: %w", g.Name, fs.Name, err)
			}
			ag.Features = append(ag.Features, &registryv1.Feature{
				Name: fs.Name, Type: schema.DataTypeToProto(t), VectorLength: fs.VectorLength,
				DefaultValue: def, Description: fs.Description, Tags: fs.Tags,
			})
		}
		cmds = append(cmds, &registryv1.Command{Command: &registryv1.Command_ApplyFeatureGroup{ApplyFeatureGroup: ag}})
	}
	return cmds, nil
}

// defaultValue reads a YAML scalar as the value of a feature of type t.
// Whether it fits t (300 for an int8) is the registry's rule to check.
func defaultValue(t schema.DataType, n *yaml.Node) (*registryv1.Value, error) {
	if n.Kind == 0 { // absent: the zero value of the type
		return nil, nil
	}
	if n.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("a default is one scalar (for a vector, the value of every element), got %s", n.Tag)
	}
	v := n.Value
	switch {
	case t == schema.Bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not a bool", v)
		}
		return &registryv1.Value{Kind: &registryv1.Value_BoolValue{BoolValue: b}}, nil
	case t == schema.String:
		return &registryv1.Value{Kind: &registryv1.Value_StringValue{StringValue: v}}, nil
	case t.IsUnsigned():
		u, err := strconv.ParseUint(v, 0, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an unsigned integer", v)
		}
		return &registryv1.Value{Kind: &registryv1.Value_UintValue{UintValue: u}}, nil
	case t.IsSigned():
		i, err := strconv.ParseInt(v, 0, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", v)
		}
		return &registryv1.Value{Kind: &registryv1.Value_IntValue{IntValue: i}}, nil
	case t.IsFloat():
		var x float64
		switch strings.ToLower(v) {
		case ".nan":
			x = math.NaN()
		case ".inf", "+.inf":
			x = math.Inf(1)
		case "-.inf":
			x = math.Inf(-1)
		default:
			var err error
			if x, err = strconv.ParseFloat(v, 64); err != nil {
				return nil, fmt.Errorf("%q is not a number", v)
			}
		}
		return &registryv1.Value{Kind: &registryv1.Value_FloatValue{FloatValue: x}}, nil
	}
	return nil, fmt.Errorf("type %s takes no default", t)
}
