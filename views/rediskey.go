package views

import (
	"fmt"
	"strconv"
	"strings"
)

// The Redis key of one (entity key, feature group) is
//
//	<prefix>{<entity>|<value 1>|...|<value n>}<group>
//
// where the entity and each key value are escaped (escapeChars, below) and
// the group is the feature group id in decimal. The part in braces is a
// Redis Cluster hash tag: every group of one entity key hashes to the same
// slot, so one MGET reads them all. The prefix holds no brace, so the tag is
// the first {...} of the key. Escaping makes the layout injective: '|' only
// separates fields and '}' only closes the tag. See docs/formats.md.
const (
	tagOpen  = '{'
	tagClose = '}'
	fieldSep = '|'
	escape   = '%'

	// escapeChars are the bytes written as '%' and two upper-case hex digits.
	escapeChars = "%{}|"
	hexDigits   = "0123456789ABCDEF"
)

// DefaultRedisPrefix is the key prefix of a Redis store without the
// RedisPrefix option.
const DefaultRedisPrefix = "ofs:"

// checkRedisPrefix reports whether p can start a key: it must not hold a
// brace, which would move the hash tag.
func checkRedisPrefix(p string) error {
	if strings.ContainsAny(p, "{}") {
		return fmt.Errorf("%w: Redis key prefix %q holds a brace", ErrInvalidOption, p)
	}
	return nil
}

// appendRedisKey appends the key of (k, group) to dst.
func appendRedisKey(dst []byte, prefix string, k Key, group uint32) []byte {
	dst = appendRedisTag(dst, prefix, k)
	return strconv.AppendUint(dst, uint64(group), 10)
}

// appendRedisTag appends the part of k's keys before the group: the prefix
// and the hash tag, which all groups of k share.
func appendRedisTag(dst []byte, prefix string, k Key) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, tagOpen)
	dst = appendEscaped(dst, k.Entity)
	for _, v := range k.Values {
		dst = append(dst, fieldSep)
		dst = appendEscaped(dst, v)
	}
	return append(dst, tagClose)
}

// appendEscaped appends s with every byte of escapeChars as %XX.
func appendEscaped(dst []byte, s string) []byte {
	for {
		i := strings.IndexAny(s, escapeChars)
		if i < 0 {
			return append(dst, s...)
		}
		c := s[i]
		dst = append(dst, s[:i]...)
		dst = append(dst, escape, hexDigits[c>>4], hexDigits[c&0x0f])
		s = s[i+1:]
	}
}
