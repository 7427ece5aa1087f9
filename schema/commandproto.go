package schema

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
)

// Conversions between the registry's commands and outcomes and their protos
// (ofs.registry.v1 Command and Outcome), what crosses the registry log. The
// *FromProto functions for commands are lenient: they carry what they read
// into the domain types, and Apply judges it. The state's conversions, which
// are strict, are in proto.go.

// RequestFromProto returns the Request of a proto command. Only what cannot
// be carried into the domain types is refused here (a missing command, a
// malformed duration); everything else is judged by Apply.
func RequestFromProto(c *registryv1.Command) (Request, error) {
	req := Request{ID: c.GetRequestId(), Actor: c.GetActor()}
	if c != nil && c.ExpectedRevision != nil {
		req.Expect = ExpectRevision(c.GetExpectedRevision())
	}
	var err error
	switch x := c.GetCommand().(type) {
	case *registryv1.Command_ApplyStore:
		s := x.ApplyStore
		req.Command = ApplyStore{ID: s.GetId(), Kind: StoreKindFromProto(s.GetKind()), Connection: s.GetConnection()}
	case *registryv1.Command_DeleteStore:
		req.Command = DeleteStore{ID: x.DeleteStore.GetId()}
	case *registryv1.Command_ApplyEntity:
		e := x.ApplyEntity
		req.Command = ApplyEntity{
			Name: e.GetName(), Keys: keysFromProto(e.GetKeyColumns()),
			Description: e.GetDescription(), Tags: tagsFromProto(e.GetTags()),
		}
	case *registryv1.Command_DeleteEntity:
		req.Command = DeleteEntity{Name: x.DeleteEntity.GetName()}
	case *registryv1.Command_ApplyFeatureGroup:
		g := x.ApplyFeatureGroup
		subj := groupSubject(g.GetName())
		c := ApplyFeatureGroup{
			Name: g.GetName(), Entity: g.GetEntity(), ID: g.GetId(), Store: g.GetStore(),
			Description: g.GetDescription(), Tags: tagsFromProto(g.GetTags()), Features: featuresFromProto(g.GetFeatures()),
		}
		if c.TTL, err = durationFromProto(subj, "ttl", g.GetTtl()); err != nil {
			break
		}
		if c.Cache, err = cacheFromProto(subj, g.GetCachePolicy()); err != nil {
			break
		}
		req.Command = c
	case *registryv1.Command_DeleteFeatureGroup:
		req.Command = DeleteFeatureGroup{Name: x.DeleteFeatureGroup.GetName()}
	case *registryv1.Command_AddFeatures:
		a := x.AddFeatures
		req.Command = AddFeatures{Group: a.GetFeatureGroup(), Features: featuresFromProto(a.GetFeatures())}
	case *registryv1.Command_RemoveFeatures:
		rm := x.RemoveFeatures
		req.Command = RemoveFeatures{Group: rm.GetFeatureGroup(), Names: rm.GetNames()}
	case *registryv1.Command_SetDefaults:
		s := x.SetDefaults
		c := SetDefaults{Group: s.GetFeatureGroup()}
		for _, d := range s.GetDefaults() {
			c.Defaults = append(c.Defaults, FeatureDefault{Feature: d.GetFeature(), Value: ValueFromProto(d.GetValue())})
		}
		req.Command = c
	case *registryv1.Command_SetTtl:
		s := x.SetTtl
		c := SetTTL{Group: s.GetFeatureGroup()}
		if c.TTL, err = durationFromProto(groupSubject(c.Group), "ttl", s.GetTtl()); err != nil {
			break
		}
		req.Command = c
	case *registryv1.Command_SetCachePolicy:
		s := x.SetCachePolicy
		c := SetCachePolicy{Group: s.GetFeatureGroup()}
		if c.Cache, err = cacheFromProto(groupSubject(c.Group), s.GetCachePolicy()); err != nil {
			break
		}
		req.Command = c
	default:
		err = violation(ErrInvalid, RuleCommand, requestSubject(req.ID), "no command, or a command of an unknown kind")
	}
	return req, err
}

// ToProto returns req as a proto command. A nil or unknown Command leaves
// the command unset.
func (req Request) ToProto() *registryv1.Command {
	p := &registryv1.Command{RequestId: req.ID, Actor: req.Actor}
	if rev, ok := req.Expect.Revision(); ok {
		p.ExpectedRevision = proto.Uint64(rev)
	}
	switch c := deref(req.Command).(type) {
	case ApplyStore:
		p.Command = &registryv1.Command_ApplyStore{ApplyStore: &registryv1.ApplyStore{
			Id: c.ID, Kind: StoreKindToProto(c.Kind), Connection: c.Connection,
		}}
	case DeleteStore:
		p.Command = &registryv1.Command_DeleteStore{DeleteStore: &registryv1.DeleteStore{Id: c.ID}}
	case ApplyEntity:
		p.Command = &registryv1.Command_ApplyEntity{ApplyEntity: &registryv1.ApplyEntity{
			Name: c.Name, KeyColumns: keysToProto(c.Keys), Description: c.Description, Tags: maps.Clone(c.Tags),
		}}
	case DeleteEntity:
		p.Command = &registryv1.Command_DeleteEntity{DeleteEntity: &registryv1.DeleteEntity{Name: c.Name}}
	case ApplyFeatureGroup:
		p.Command = &registryv1.Command_ApplyFeatureGroup{ApplyFeatureGroup: &registryv1.ApplyFeatureGroup{
			Name: c.Name, Entity: c.Entity, Id: c.ID, Store: c.Store, Ttl: durationToProto(c.TTL),
			CachePolicy: c.Cache.ToProto(), Description: c.Description, Tags: maps.Clone(c.Tags), Features: featuresToProto(c.Features),
		}}
	case DeleteFeatureGroup:
		p.Command = &registryv1.Command_DeleteFeatureGroup{DeleteFeatureGroup: &registryv1.DeleteFeatureGroup{Name: c.Name}}
	case AddFeatures:
		p.Command = &registryv1.Command_AddFeatures{AddFeatures: &registryv1.AddFeatures{
			FeatureGroup: c.Group, Features: featuresToProto(c.Features),
		}}
	case RemoveFeatures:
		p.Command = &registryv1.Command_RemoveFeatures{RemoveFeatures: &registryv1.RemoveFeatures{
			FeatureGroup: c.Group, Names: slices.Clone(c.Names),
		}}
	case SetDefaults:
		s := &registryv1.SetDefaults{FeatureGroup: c.Group}
		for _, d := range c.Defaults {
			s.Defaults = append(s.Defaults, &registryv1.FeatureDefault{Feature: d.Feature, Value: d.Value.ToProto()})
		}
		p.Command = &registryv1.Command_SetDefaults{SetDefaults: s}
	case SetTTL:
		p.Command = &registryv1.Command_SetTtl{SetTtl: &registryv1.SetTtl{FeatureGroup: c.Group, Ttl: durationToProto(c.TTL)}}
	case SetCachePolicy:
		p.Command = &registryv1.Command_SetCachePolicy{SetCachePolicy: &registryv1.SetCachePolicy{
			FeatureGroup: c.Group, CachePolicy: c.Cache.ToProto(),
		}}
	}
	return p
}

// ApplyProto is Apply for a proto command, returning a proto outcome: what
// the registry processor calls for each record of the registry log. A
// command that cannot be read is rejected like any other.
func (r *Registry) ApplyProto(c *registryv1.Command, at time.Time) (*Registry, *registryv1.Outcome) {
	req, err := RequestFromProto(c)
	if err != nil {
		return r, Outcome{RequestID: req.ID, Revision: r.revision, Err: err}.ToProto()
	}
	// A rejection is carried in the outcome; Apply's error is the same.
	next, out, _ := r.Apply(req, at)
	return next, out.ToProto()
}

// RejectCode returns the proto reject code of an error from Apply.
func RejectCode(err error) registryv1.RejectCode {
	for _, m := range rejectCodes {
		if errors.Is(err, m.err) {
			return m.code
		}
	}
	return registryv1.RejectCode_REJECT_CODE_UNSPECIFIED
}

var rejectCodes = []struct {
	err  error
	code registryv1.RejectCode
}{
	{ErrInvalid, registryv1.RejectCode_REJECT_CODE_INVALID_ARGUMENT},
	{ErrStale, registryv1.RejectCode_REJECT_CODE_STALE_REVISION},
	{ErrNotFound, registryv1.RejectCode_REJECT_CODE_NOT_FOUND},
	{ErrExists, registryv1.RejectCode_REJECT_CODE_ALREADY_EXISTS},
	{ErrIncompatible, registryv1.RejectCode_REJECT_CODE_INCOMPATIBLE_CHANGE},
	{ErrLimit, registryv1.RejectCode_REJECT_CODE_LIMIT_EXCEEDED},
	{ErrInUse, registryv1.RejectCode_REJECT_CODE_IN_USE},
}

// ToProto returns o as a proto outcome. Texts are made valid UTF-8, as
// proto strings must be.
func (o Outcome) ToProto() *registryv1.Outcome {
	p := &registryv1.Outcome{RequestId: validUTF8(o.RequestID)}
	if o.Err == nil {
		p.Result = &registryv1.Outcome_Applied_{Applied: &registryv1.Outcome_Applied{
			Revision: o.Revision, ModRevision: o.ModRevision, Noop: o.Noop,
			FeatureGroupId: o.FeatureGroupID, FeatureGroupVersion: o.FeatureGroupVersion,
		}}
		return p
	}
	rej := &registryv1.Outcome_Rejected{Code: RejectCode(o.Err), Message: validUTF8(o.Err.Error()), Revision: o.Revision}
	if v, ok := AsViolation(o.Err); ok {
		rej.Rule, rej.Subject, rej.Detail = string(v.Rule), validUTF8(v.Subject), validUTF8(v.Detail)
	}
	p.Result = &registryv1.Outcome_Rejected_{Rejected: rej}
	return p
}

// OutcomeFromProto returns the Outcome of a proto outcome. A rejection
// becomes a *Violation wrapping the sentinel error of its code, so that a
// client can test errors.Is(out.Err, ErrStale) and retry.
func OutcomeFromProto(p *registryv1.Outcome) Outcome {
	o := Outcome{RequestID: p.GetRequestId()}
	switch x := p.GetResult().(type) {
	case *registryv1.Outcome_Applied_:
		a := x.Applied
		o.Revision, o.ModRevision, o.Noop = a.GetRevision(), a.GetModRevision(), a.GetNoop()
		o.FeatureGroupID, o.FeatureGroupVersion = a.GetFeatureGroupId(), a.GetFeatureGroupVersion()
	case *registryv1.Outcome_Rejected_:
		rej := x.Rejected
		o.Revision = rej.GetRevision()
		sentinel := ErrInvalid
		for _, m := range rejectCodes {
			if m.code == rej.GetCode() {
				sentinel = m.err
			}
		}
		o.Err = &Violation{Err: sentinel, Rule: Rule(rej.GetRule()), Subject: rej.GetSubject(), Detail: rej.GetDetail()}
	default:
		o.Err = violation(ErrInvalid, RuleCommand, requestSubject(o.RequestID), "the outcome holds no result")
	}
	return o
}

func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
