package schema

import "errors"

// Sentinel errors of the schema package. Callers match them with errors.Is;
// the wrapped message names the entity, feature group or feature concerned.
var (
	ErrUnknownDataType = errors.New("schema: unknown data type")
)
