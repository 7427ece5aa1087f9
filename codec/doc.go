// Package codec holds the binary block formats of the feature store: PSDB,
// the stored block of one (entity key, feature group), and CSDB, the cache
// block that holds the blocks of several groups of one entity key. The
// formats are specified byte by byte in docs/formats.md; testdata/golden
// holds reference vectors.
//
// A Layout describes one schema version of a feature group: its columns
// (features) in schema order, their data types, vector lengths and
// defaults. The schema package builds Layouts from the registry.
//
// Writing a row:
//
//	b := codec.NewBuilder(layout) // one per goroutine, reused with Reset
//	b.SetFloat32(0, 0.25)
//	b.SetString(1, "de-DE")
//	block, err := b.AppendCompressed(buf[:0], eventTimeMicros, codec.NeverExpires)
//
// Reading some features of the active version from blocks of any version:
//
//	p, err := codec.NewProjection(active, allVersions, wanted) // once per request shape
//	var r codec.Reader                                          // one per goroutine
//	err = r.Open(block, p, time.Now().UnixMicro())
//	// On ErrExpired, and on any other error, r serves p's defaults.
//	err = r.ReadFloat32s(row) // or r.Float32(i), r.Bytes(i), ...
//
// Times (event time, expiry, now) are microseconds since the Unix epoch
// (time.Time.UnixMicro): exact in a float64, so the Redis write script can
// compare them in Lua, and the unit of ScyllaDB's USING TIMESTAMP.
package codec
