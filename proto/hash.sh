#!/usr/bin/env bash
# Prints one SHA-256 over everything the generated Go code of the .proto files
# depends on and over that code itself: the .proto files, the buf
# configurations, tools/go.mod and go.sum (the versions of buf and the protoc
# plugins) and the generated *.pb.go files. `go tool task proto` records it in
# proto/generated.sha256 after generating and linting; `proto:check` and
# `lint:proto` skip buf (about 2 minutes to compile from empty caches) while the
# hash still matches, so buf runs only when a schema, its configuration, a
# tool's version or a generated file changed.
set -euo pipefail
cd "$(dirname "$0")/.."
{
	git ls-files -co --exclude-standard -- '*.proto' '*.pb.go' 'buf.yaml' 'buf.gen.yaml' \
		'codec/internal/benchpb/buf.yaml' 'codec/internal/benchpb/buf.gen.yaml' \
		'tools/go.mod' 'tools/go.sum'
} | LC_ALL=C sort -u | while IFS= read -r f; do
	[[ -f $f ]] && printf '%s %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)" "$f"
done | sha256sum | cut -d' ' -f1
