package sdk

import (
	"context"
	"fmt"

	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
)

// Apply sends registry commands, applied in order; each has an outcome in
// the answer, applied or rejected with the rule broken. A rejected command
// is not an error of the call: look at the outcomes.
func (c *Client) Apply(ctx context.Context, cmds ...*registryv1.Command) (*registryv1.ApplyResponse, error) {
	resp, err := c.registry.Apply(ctx, &registryv1.ApplyRequest{Commands: cmds})
	if err != nil {
		return nil, fmt.Errorf("sdk: apply: %w", err)
	}
	return resp, nil
}

// FeatureGroup returns a feature group with every version; its last version
// is the active one.
func (c *Client) FeatureGroup(ctx context.Context, name string) (*registryv1.FeatureGroup, error) {
	resp, err := c.registry.GetFeatureGroup(ctx, &registryv1.GetFeatureGroupRequest{
		Selector: &registryv1.GetFeatureGroupRequest_Name{Name: name}})
	if err != nil {
		return nil, fmt.Errorf("sdk: feature group %s: %w", name, err)
	}
	return resp.GetFeatureGroup(), nil
}

// Entity returns an entity and its key columns.
func (c *Client) Entity(ctx context.Context, name string) (*registryv1.Entity, error) {
	resp, err := c.registry.GetEntity(ctx, &registryv1.GetEntityRequest{Name: name})
	if err != nil {
		return nil, fmt.Errorf("sdk: entity %s: %w", name, err)
	}
	return resp.GetEntity(), nil
}
