// Package views holds the read models of the feature store: the online
// stores that keep the latest block of every (entity key, feature group).
//
// A Store is written by the ingest processor and read by the feature server.
// Two implementations exist:
//
//   - Redis: one key per (entity key, feature group), with the entity key in
//     a hash tag so that every group of one entity key lives in one Redis
//     Cluster slot; last-writer-wins by a server-side Lua script that compares
//     the event times in the block headers. Works on standalone Redis,
//     Sentinel, Redis Cluster and Dragonfly.
//   - Scylla: one CQL table per entity (ScyllaDB or Apache Cassandra),
//     partition key = the entity's key columns, clustering column = the
//     feature group; last-writer-wins by writing each block USING TIMESTAMP
//     its event time.
//
// Both stores are blind (a write never reads first on the client) and
// idempotent, and end in the same state whatever order blocks of different
// event times arrive in, so replaying the features topic rebuilds them. Each
// store has its own rule for two different blocks of equal event time (see
// Redis.Write and Scylla). The layouts are described in docs/formats.md.
package views
