package topics

import "testing"

func TestFeatureKey(t *testing.T) {
	for _, tc := range []struct {
		entity, group string
		values        []string
		want          string
	}{
		{"user", "user_profile", []string{"42"}, "user/user_profile/42"},
		{"session", "clicks", []string{"a/b", "7"}, "session/clicks/a%2Fb/7"},
		{"session", "clicks", []string{"100%", "/"}, "session/clicks/100%25/%2F"},
	} {
		if got := FeatureKey(tc.entity, tc.group, tc.values...); got != tc.want {
			t.Errorf("FeatureKey(%q, %q, %q) = %q, want %q", tc.entity, tc.group, tc.values, got, tc.want)
		}
	}
}

// TestFeatureKeyInjective checks that different parts never give one key:
// the cases that a key without escaping would confuse.
func TestFeatureKeyInjective(t *testing.T) {
	parts := [][]string{
		{"a/b"}, {"a", "b"}, {"a%2Fb"}, {"a%b"}, {"a%25b"}, {"a/", "b"}, {"a", "/b"}, {""}, {"", ""}, {"%"}, {"%25"},
	}
	seen := map[string][]string{}
	for _, p := range parts {
		k := FeatureKey("e", "g", p...)
		if prev, ok := seen[k]; ok {
			t.Fatalf("%q and %q both give the key %q", prev, p, k)
		}
		seen[k] = p
	}
}
