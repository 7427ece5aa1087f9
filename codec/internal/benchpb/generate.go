// Package benchpb holds the protobuf message that the codec benchmarks
// compare the block formats with.
package benchpb

// Regenerate with `go tool task proto`.
