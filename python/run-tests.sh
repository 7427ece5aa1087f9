#!/usr/bin/env bash
# Runs the Python SDK's checks and tests:
#   1. a virtual environment in <repo>/.dev/venv (created once, reused),
#   2. pip install ./python[test,spark] (the exact versions pinned in
#      pyproject.toml),
#   3. python/spark-jars.sh: the Kafka and Delta Lake jars of the Spark tests,
#      into .dev/spark/lib (fetched through Maven once, then reused),
#   4. the staleness check of the generated modules (python/generate.sh into a
#      temporary directory, compared with src/ofs/_proto),
#   5. pytest (the integration tests need the dev services, the Spark tests
#      Java 17 and the jars: they skip without them, and fail without them
#      when CI=true or OFS_REQUIRE_SERVICES=1).
# Exits non-zero when anything fails, including when pytest collects no test.
# Extra arguments go to pytest.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
venv="$root/.dev/venv"
py="${OFS_PYTHON:-python3.11}"
command -v "$py" >/dev/null || py=python3

if [ ! -x "$venv/bin/python" ]; then
	mkdir -p "$root/.dev"
	"$py" -m venv "$venv"
fi
"$venv/bin/python" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' ||
	{ echo "run-tests: $venv is not Python 3.11+; remove it" >&2; exit 1; }
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${here}[test,spark]"
if ! PYTHON="$venv/bin/python" "$here/spark-jars.sh"; then
	if [ "${CI:-}" = true ] || [ "${OFS_REQUIRE_SERVICES:-}" = 1 ]; then
		exit 1
	fi
	echo "run-tests: no Spark jars: the Spark tests will be skipped" >&2
fi

echo "run-tests: checking that src/ofs/_proto is current"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
PYTHON="$venv/bin/python" "$here/generate.sh" "$tmp/_proto"
if ! diff -r -x __pycache__ "$here/src/ofs/_proto" "$tmp/_proto" >"$tmp/diff"; then
	head -50 "$tmp/diff" >&2
	echo "run-tests: src/ofs/_proto is stale: run python/generate.sh and commit the result" >&2
	exit 1
fi

cd "$here"
set +e
"$venv/bin/python" -m pytest -p no:cacheprovider "$@" tests
code=$?
set -e
if [ "$code" -eq 5 ]; then
	echo "run-tests: pytest collected no tests" >&2
	exit 1
fi
exit "$code"
