package featurev1

import "strings"

// Shape names the shape of a Retrieve request: its entity, and its groups
// with the features asked of each. Requests of one shape resolved at one
// registry revision have the same columns, which is what the feature
// server plans once and what the SDKs keep (columns_revision). (Written by
// hand, beside the generated code.)
func (x *RetrieveRequest) Shape() string {
	var b strings.Builder
	b.WriteString(x.GetEntity())
	for _, g := range x.GetGroups() {
		b.WriteByte(0)
		b.WriteString(g.GetFeatureGroup())
		for _, f := range g.GetFeatures() {
			b.WriteByte(1)
			b.WriteString(f)
		}
	}
	return b.String()
}
