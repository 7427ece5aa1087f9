package views

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestRedisKey(t *testing.T) {
	tests := []struct {
		prefix string
		key    Key
		group  uint32
		want   string
	}{
		{"ofs:", key("user", "42"), 7, "ofs:{user|42}7"},
		{"", key("user", "42"), 0, "{user|42}0"},
		{"p:", key("pair", "-5", "alice"), 4294967295, "p:{pair|-5|alice}4294967295"},
		{"p:", key("tag", "a|b", "c"), 1, "p:{tag|a%7Cb|c}1"},
		{"p:", key("tag", "a", "b|c"), 1, "p:{tag|a|b%7Cc}1"},
		{"p:", key("tag", "{x}", "}{"), 1, "p:{tag|%7Bx%7D|%7D%7B}1"},
		{"p:", key("tag", "100%", "%7C"), 1, "p:{tag|100%25|%257C}1"},
		{"p:", key("tag", "", ""), 1, "p:{tag||}1"},
		{"p:", key("tag", ""), 1, "p:{tag|}1"},
		{"p:", key("e|x", "1"), 2, "p:{e%7Cx|1}2"},
		{"p:", key("user", "Zoë\x00\n"), 3, "p:{user|Zoë\x00\n}3"},
	}
	for _, tc := range tests {
		if got := string(appendRedisKey(nil, tc.prefix, tc.key, tc.group)); got != tc.want {
			t.Errorf("key of %s group %d = %q, want %q", tc.key, tc.group, got, tc.want)
		}
	}
}

func TestRedisPrefixCheck(t *testing.T) {
	for p, ok := range map[string]bool{"": true, "ofs:": true, "a:b:": true, "{ofs}:": false, "x}": false, "{": false} {
		err := checkRedisPrefix(p)
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrInvalidOption)) {
			t.Errorf("checkRedisPrefix(%q) = %v, want ok=%v", p, err, ok)
		}
	}
}

// hashTag is the part of a key that Redis Cluster hashes: between the first
// '{' and the first '}' after it, when that is not empty; else the key.
func hashTag(k string) string {
	if i := strings.IndexByte(k, '{'); i >= 0 {
		if j := strings.IndexByte(k[i+1:], '}'); j > 0 {
			return k[i+1 : i+1+j]
		}
	}
	return k
}

// parseRedisKey inverts appendRedisKey: the prefix, key and group of a key.
// It is the format's definition, as a reader of docs/formats.md would write
// it, and fails on anything appendRedisKey cannot produce.
func parseRedisKey(s string) (prefix string, k Key, group uint32, err error) {
	open := strings.IndexByte(s, '{')
	end := strings.IndexByte(s, '}')
	if open < 0 || end < open {
		return "", Key{}, 0, fmt.Errorf("no hash tag in %q", s)
	}
	prefix = s[:open]
	g, err := strconv.ParseUint(s[end+1:], 10, 32)
	if err != nil || strconv.FormatUint(g, 10) != s[end+1:] {
		return "", Key{}, 0, fmt.Errorf("group %q", s[end+1:])
	}
	fields := strings.Split(s[open+1:end], "|")
	if len(fields) < 2 {
		return "", Key{}, 0, fmt.Errorf("no key values in %q", s)
	}
	for i, f := range fields {
		if fields[i], err = unescape(f); err != nil {
			return "", Key{}, 0, err
		}
	}
	return prefix, Key{Entity: fields[0], Values: fields[1:]}, uint32(g), nil
}

func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			if strings.IndexByte(escapeChars, s[i]) >= 0 {
				return "", fmt.Errorf("unescaped %q in %q", s[i], s)
			}
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("short escape in %q", s)
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil || strings.IndexByte(escapeChars, byte(n)) < 0 || strings.ToUpper(s[i+1:i+3]) != s[i+1:i+3] {
			return "", fmt.Errorf("bad escape %q in %q", s[i:i+3], s)
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

func TestParseRedisKeyRejects(t *testing.T) {
	for _, s := range []string{"", "user|1", "{user|1}", "{user|1}x", "{user|1}01", "{user}1", "{us%7|1}1", "{us%41|1}1", "{a|b%7c}1"} {
		if _, _, _, err := parseRedisKey(s); err == nil {
			t.Errorf("parseRedisKey(%q) succeeded", s)
		}
	}
}

// FuzzRedisKey checks that the key layout is injective (a key parses back
// to exactly what made it) and that every group of one entity key has the
// same hash tag, so all land in one cluster slot.
func FuzzRedisKey(f *testing.F) {
	f.Add("ofs:", "user", "42", "", uint32(7), uint32(8))
	f.Add("", "tag", "a|b", "c", uint32(0), uint32(4294967295))
	f.Add("p:", "t%", "{}", "%7C|%", uint32(1), uint32(2))
	f.Add("x", "e", "}", "{", uint32(3), uint32(3))
	f.Fuzz(func(t *testing.T, prefix, entity, v1, v2 string, g1, g2 uint32) {
		if checkRedisPrefix(prefix) != nil || entity == "" {
			return
		}
		for _, k := range []Key{key(entity, v1), key(entity, v1, v2)} {
			s1 := string(appendRedisKey(nil, prefix, k, g1))
			s2 := string(appendRedisKey(nil, prefix, k, g2))
			p, back, g, err := parseRedisKey(s1)
			if err != nil {
				t.Fatalf("parse %q (from %s group %d): %v", s1, k, g1, err)
			}
			if p != prefix || back.Entity != k.Entity || !slices.Equal(back.Values, k.Values) || g != g1 {
				t.Fatalf("%q parses to %q %s group %d, want %q %s group %d", s1, p, back, g, prefix, k, g1)
			}
			if hashTag(s1) != hashTag(s2) {
				t.Fatalf("groups %d and %d of %s hash on %q and %q", g1, g2, k, hashTag(s1), hashTag(s2))
			}
			if want := s1[len(prefix)+1 : strings.LastIndexByte(s1, '}')]; hashTag(s1) != want {
				t.Fatalf("hash tag of %q is %q, want the whole entity key %q", s1, hashTag(s1), want)
			}
		}
	})
}
