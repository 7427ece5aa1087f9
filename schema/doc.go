// Package schema holds the registry's domain model: entities, feature groups,
// features and their data types, the rules by which they evolve, and the
// immutable snapshot that readers swap atomically.
//
// # State and commands
//
// The registry is event-sourced. A Registry is the whole state as an
// immutable value; Registry.Apply applies one command (a Request) at a given
// time and returns the next state and an Outcome. Apply is a pure function:
// no clock (the time is an argument, the log record's timestamp), no
// randomness, no dependence on map order. Replaying the same commands with
// the same times therefore yields the same state, and Registry.Marshal
// encodes equal states to equal bytes, so a replay can be checked byte for
// byte. ApplyProto does the same for the proto command of the registry log
// and returns the proto outcome for the results topic.
//
// A rejected command leaves the state unchanged. Its error is a *Violation
// that wraps one sentinel (ErrInvalid, ErrStale, ErrNotFound, ErrExists,
// ErrIncompatible, ErrLimit, ErrInUse) and carries the Rule broken; its
// message names the object and feature concerned and the rule.
//
// # Revisions and versions
//
// Two counters, on purpose:
//
//   - The registry revision counts applied commands. Every object records the
//     revision that created it and the one that last changed it (Meta). A
//     Request's Expect is compared with the ModRevision of the one object the
//     command addresses, not with the registry revision, so that a change to
//     one group never makes a command on another group stale. A mismatch is
//     ErrStale: read again and retry; it is never merged.
//   - A feature group Version is an immutable, numbered layout of the group's
//     features, which blocks in the online stores record. Only a change to the
//     feature list makes a new version: adding, removing or reordering
//     features, or changing a feature's default, description or tags. A
//     change of the group's TTL, cache policy, description or tags only moves
//     its ModRevision, so blocks written before stay of the active version.
//
// Applying a desired state that matches the current one is a no-op: no new
// version, no new revision.
//
// # Evolution rules
//
// A feature name keeps its data type and vector length for the group's life,
// even after the feature is removed: old blocks hold values under that name
// and readers map features across versions by name. An entity's key columns,
// a store's kind, and a group's id, entity and store never change. Feature
// group ids are chosen by the author or assigned (one above every id ever
// used) and never reused, not even after the group is deleted. Stores and
// entities in use by a live group cannot be deleted. The limits (MaxFeatures,
// MaxVectorLength, ...) are constants: an outcome must depend on the log
// alone.
//
// # Readers
//
// A Snapshot is a read-only view of one Registry with the lookups readers
// need (group by name or id, any version by number, a feature's index in a
// version). A Holder keeps the current Snapshot in an atomic pointer, never
// moves back in revision, and lets a server wait for a revision. Values
// reachable from a Registry or Snapshot are shared and must not be modified.
//
// Version.Columns gives the ordered (type, vector length, default) columns a
// block encoder needs; package codec builds its layout from them, and this
// package does not import codec.
package schema
