#!/usr/bin/env bash
# Generates the Python protobuf and gRPC modules of the ofs SDK from ../proto.
#
#   python/generate.sh            # writes python/src/ofs/_proto
#   python/generate.sh OUTDIR     # writes OUTDIR instead (the staleness check)
#
# Layout: protoc writes each file under its proto package path, so
# proto/ofs/feature/v1/service.proto becomes
# src/ofs/_proto/ofs/feature/v1/service_pb2.py (and _pb2_grpc.py, .pyi).
# grpcio-tools emits absolute imports such as
# `from ofs.feature.v1 import event_pb2`; since the SDK package itself is
# named ofs, those are rewritten to `from ofs._proto.ofs.feature.v1 import ...`.
# Needs grpcio-tools (the version pinned in pyproject.toml) in the Python
# that PYTHON names (default: python3).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
out="${1:-$here/src/ofs/_proto}"
py="${PYTHON:-python3}"

if ! "$py" -c 'import grpc_tools' 2>/dev/null; then
	echo "python/generate.sh: $py has no grpcio-tools (pip install the version pinned in python/pyproject.toml, or set PYTHON)" >&2
	exit 1
fi
# Generated beside, then swapped in: a failed run leaves the stubs as they were.
gen="$(mktemp -d)"
trap 'rm -rf "$gen"' EXIT
cd "$root"
mapfile -t protos < <(find proto -name '*.proto' | LC_ALL=C sort)
rel=("${protos[@]#proto/}")
"$py" -m grpc_tools.protoc -I proto \
	--python_out="$gen" --pyi_out="$gen" --grpc_python_out="$gen" \
	"${rel[@]}"

# Package-relative imports, and an __init__.py in every directory.
find "$gen" -name '*.py' -o -name '*.pyi' | while read -r f; do
	sed -i -E 's/^from ofs\.([a-z0-9_.]+) import /from ofs._proto.ofs.\1 import /; s/^import ofs\.([a-z0-9_.]+)/import ofs._proto.ofs.\1/' "$f"
done
find "$gen" -type d | while read -r d; do
	[ -e "$d/__init__.py" ] || : >"$d/__init__.py"
done
rm -rf "$out"
mkdir -p "$(dirname "$out")"
cp -R "$gen" "$out"
