package events

import "fmt"

// Code is the stable, machine-readable reason an event is rejected. It is
// written to the dead-letter topic (header ofs-dlq-code) and labels the
// rejection counter; the codes never change meaning.
type Code string

// The rejection codes. docs/kafka.md lists them with examples.
const (
	// The message itself.
	CodeEmpty          Code = "empty"            // an empty value or a tombstone
	CodeOversize       Code = "oversize"         // a value larger than the limit
	CodeBadContentType Code = "bad_content_type" // a content-type header ofs does not read
	CodeBadJSON        Code = "bad_json"         // not JSON, or not the shape of an event
	CodeBadProtobuf    Code = "bad_protobuf"     // not a FeatureEvent in protobuf
	CodeKeyMismatch    Code = "key_mismatch"     // the Kafka key is not the event's key

	// The schema.
	CodeUnknownEntity  Code = "unknown_entity"        // no such entity, or none named
	CodeUnknownGroup   Code = "unknown_feature_group" // no such live feature group, or none named
	CodeWrongEntity    Code = "wrong_entity"          // the group belongs to another entity
	CodeUnknownFeature Code = "unknown_feature"       // the group's active version has no such feature
	CodeUnknownVersion Code = "unknown_version"       // positional values for a version the group lacks

	// Keys.
	CodeMissingKey Code = "missing_key" // a key column of the entity has no value
	CodeExtraKey   Code = "extra_key"   // a key that is not a key column of the entity
	CodeBadKey     Code = "bad_key"     // a key value of the wrong type, out of range, empty or too long

	// Values.
	CodeWrongType        Code = "wrong_type"        // a value of another type than the feature's
	CodeWrongLength      Code = "wrong_length"      // a vector of another length than the feature's
	CodeOutOfRange       Code = "out_of_range"      // a number the feature's type cannot hold
	CodeBadValue         Code = "bad_value"         // null, an empty Value, or a string that is not UTF-8
	CodeDuplicateFeature Code = "duplicate_feature" // the same feature given twice
	CodeMixedValues      Code = "mixed_values"      // both values and positional_values
	CodeWrongValueCount  Code = "wrong_value_count" // positional_values not one per feature of the version

	// Time.
	CodeMissingEventTime Code = "missing_event_time" // no event time and no Kafka timestamp
	CodeBadEventTime     Code = "bad_event_time"     // not a time, before 1970, or too far in the future
)

// Error is a rejected event: the code and a reason for people that names the
// problem (the feature, key column or field, and what was found).
type Error struct {
	Code   Code
	Reason string
}

func (e *Error) Error() string { return "events: " + string(e.Code) + ": " + e.Reason }

func reject(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// Codes returns every rejection code of the decoder.
func Codes() []Code {
	return []Code{
		CodeEmpty, CodeOversize, CodeBadContentType, CodeBadJSON, CodeBadProtobuf, CodeKeyMismatch,
		CodeUnknownEntity, CodeUnknownGroup, CodeWrongEntity, CodeUnknownFeature, CodeUnknownVersion,
		CodeMissingKey, CodeExtraKey, CodeBadKey,
		CodeWrongType, CodeWrongLength, CodeOutOfRange, CodeBadValue, CodeDuplicateFeature, CodeMixedValues, CodeWrongValueCount,
		CodeMissingEventTime, CodeBadEventTime,
	}
}
