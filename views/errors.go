package views

import "errors"

// Sentinel errors of the views package. Callers match them with errors.Is;
// the wrapped message names the store, key or table concerned.
var (
	// ErrUnavailable reports a store that cannot be reached or did not answer
	// in time: a refused or broken connection, a network timeout, no live
	// host or replica, a node that is loading or overloaded. The operation
	// may be retried; a reader must not serve defaults in its place (the
	// feature server maps it to gRPC Unavailable). Cancellation and deadline
	// errors of the caller's context are not wrapped in it: they pass through.
	ErrUnavailable = errors.New("views: store unavailable")
	// ErrInvalidKey reports a key that cannot be stored: an empty entity, no
	// key values, or (Scylla) values that do not match the entity's key
	// columns in number, type or canonical form.
	ErrInvalidKey = errors.New("views: invalid key")
	// ErrInvalidBlock reports a block that cannot be stored: not a PSDB
	// block, an EventTime that differs from the block header's, or a TTL out
	// of range.
	ErrInvalidBlock = errors.New("views: invalid block")
	// ErrNotBlock reports a stored value that is not a block, so a new block
	// cannot be compared with it: a Redis key of another type, or a string
	// too short to hold a block header. Something other than ofs wrote it.
	ErrNotBlock = errors.New("views: stored value is not a block")
	// ErrUnknownEntity reports an entity without a table: Scylla.EnsureTables
	// was not called for it.
	ErrUnknownEntity = errors.New("views: unknown entity")
	// ErrTableMismatch reports an existing table whose columns differ from
	// the entity's definition.
	ErrTableMismatch = errors.New("views: table does not match the entity")
	// ErrInvalidOption reports a bad option or table definition given to a
	// constructor or EnsureTables.
	ErrInvalidOption = errors.New("views: invalid option")
)
