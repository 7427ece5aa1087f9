package topics

import "strings"

// The message key of a feature event on the features topic is
//
//	<entity>/<feature group>/<key value 1>/.../<key value n>
//
// with the key values in the entity's key-column order and in canonical
// text (decimal for integers, without sign for non-negative numbers and
// without leading zeros). Each part is escaped: '%' is written %25 and '/'
// is written %2F, so '/' only ever separates parts and two different
// (entity, group, values) never share a key. Compaction keeps the latest
// event of every key: the latest row of every (entity key, feature group).
//
// For example user/user_profile/42, or for an entity keyed by a string and
// an integer, session/clicks/a%2Fb/7.
const (
	keySep    = '/'
	keyEscape = '%'
)

// FeatureKey returns the features-topic message key of an event of
// feature group group of entity entity with the given key values.
func FeatureKey(entity, group string, values ...string) string {
	return string(AppendFeatureKey(nil, entity, group, values))
}

// AppendFeatureKey appends the key FeatureKey returns to dst.
func AppendFeatureKey(dst []byte, entity, group string, values []string) []byte {
	dst = appendKeyPart(dst, entity)
	dst = append(dst, keySep)
	dst = appendKeyPart(dst, group)
	for _, v := range values {
		dst = append(dst, keySep)
		dst = appendKeyPart(dst, v)
	}
	return dst
}

func appendKeyPart(dst []byte, s string) []byte {
	for {
		i := strings.IndexAny(s, "%/")
		if i < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:i]...)
		if s[i] == keyEscape {
			dst = append(dst, "%25"...)
		} else {
			dst = append(dst, "%2F"...)
		}
		s = s[i+1:]
	}
}

// Header names of the features and dead-letter topics. Header names are
// matched case-insensitively by ofs, and written as below.
const (
	// HeaderContentType gives the encoding of a feature event:
	// ContentTypeJSON or ContentTypeProtobuf. An event without it is JSON
	// when its first byte other than white space is '{', else protobuf.
	HeaderContentType = "content-type"

	// The headers that the ingest processor adds to a rejected event on the
	// dead-letter topic, whose key and value are the original event's. The
	// original event's headers follow these.

	// HeaderDLQReason says, for people, what is wrong with the event.
	HeaderDLQReason = "ofs-dlq-reason"
	// HeaderDLQCode is the machine-readable rejection code, such as
	// "unknown_feature" (see processors/ingest and docs/kafka.md).
	HeaderDLQCode = "ofs-dlq-code"
	// HeaderDLQTopic, HeaderDLQPartition and HeaderDLQOffset locate the
	// original event (partition and offset in decimal).
	HeaderDLQTopic     = "ofs-dlq-topic"
	HeaderDLQPartition = "ofs-dlq-partition"
	HeaderDLQOffset    = "ofs-dlq-offset"
	// HeaderDLQTimestamp is the original event's Kafka timestamp (RFC 3339),
	// absent when it had none.
	HeaderDLQTimestamp = "ofs-dlq-timestamp"
	// HeaderDLQTime is when the event was rejected (RFC 3339).
	HeaderDLQTime = "ofs-dlq-time"
)

// HeaderCommandOffset is the header of the registry results topic that
// gives the offset (in decimal) of the command on the registry topic that the outcome decides:
// two commands of one request id get each its own outcome.
const HeaderCommandOffset = "ofs-command-offset"

// The content types of a feature event.
const (
	ContentTypeJSON     = "application/json"
	ContentTypeProtobuf = "application/x-protobuf"
)
