package events

import (
	"strings"

	"github.com/ofstack/ofs/topics"
)

// Format is the encoding of an event.
type Format uint8

// The formats.
const (
	FormatProtobuf Format = iota + 1 // a FeatureEvent in protobuf
	FormatJSON                       // the natural JSON form (docs/kafka.md)
)

func (f Format) String() string {
	switch f {
	case FormatProtobuf:
		return "protobuf"
	case FormatJSON:
		return "json"
	}
	return "unknown"
}

// DetectFormat returns the format of value given its content-type header
// ("" when the message has none). The header's media type decides,
// case-insensitively and ignoring parameters: application/json (or
// text/json) is JSON; application/x-protobuf, application/protobuf and
// application/vnd.google.protobuf are protobuf. Without the header a value
// whose first byte other than white space is '{' is JSON, and anything else
// protobuf. No valid protobuf event is taken for JSON: it would start with
// the tag of a group field (0x7B), or with an entity (tag 0x0A, a newline)
// of 123 bytes, longer than any entity name.
func DetectFormat(contentType string, value []byte) (Format, error) {
	f, rej := detectFormat(contentType, value)
	if rej != nil {
		return 0, rej
	}
	return f, nil
}

func detectFormat(contentType string, value []byte) (Format, *Error) {
	if contentType == "" {
		for _, c := range value {
			switch c {
			case ' ', '\t', '\n', '\r':
				continue
			case '{':
				return FormatJSON, nil
			}
			break
		}
		return FormatProtobuf, nil
	}
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch mt {
	case topics.ContentTypeJSON, "text/json":
		return FormatJSON, nil
	case topics.ContentTypeProtobuf, "application/protobuf", "application/vnd.google.protobuf":
		return FormatProtobuf, nil
	}
	return 0, reject(CodeBadContentType, "content type %q is neither %s nor %s",
		clip(contentType), topics.ContentTypeJSON, topics.ContentTypeProtobuf)
}
