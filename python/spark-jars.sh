#!/usr/bin/env bash
# Fetches the jars that ofs.spark and examples/spark need on top of pyspark's
# own: Spark's Kafka connector (spark-sql-kafka-0-10, with kafka-clients,
# commons-pool2 and spark-token-provider-kafka-0-10) and Delta Lake
# (delta-spark and delta-storage, with Delta Kernel and the Unity Catalog
# client), into <repo>/.dev/spark/lib:
#
#   python/spark-jars.sh                       # then
#   export OFS_SPARK_JARS=$PWD/.dev/spark/lib  # where ofs.spark.jars() looks
#
# Maven resolves the artifacts and all their runtime dependencies
# (deploy/dev/lib.sh's mvn_fetch, into .dev/spark/spark-jars/lib); only the
# jars that pyspark does not ship already are copied to .dev/spark/lib, so the
# class path holds one Spark, one Scala library, one Hadoop and one Jackson,
# pyspark's. A jar is matched by its name without the version
# (jackson-core-2.13.5.jar is pyspark's jackson-core-2.21.2.jar).
#
# The versions must match the pins of python/pyproject.toml (extra "spark"):
# the connectors are built for one Spark version, checked here against the
# installed pyspark. Needs pyspark in the Python that PYTHON names (default:
# <repo>/.dev/venv/bin/python, else python3) and Maven. Idempotent: a second
# run with the same versions does nothing.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
export SERVICE=spark-jars  # the tag of lib.sh's log lines
# shellcheck source=deploy/dev/lib.sh
source "$here/../deploy/dev/lib.sh"

SPARK_VERSION=4.2.0  # = pyspark, and the Spark that delta-spark_4.2 is built for
DELTA_VERSION=4.4.0  # = delta-spark on PyPI
JACKSON_VERSION=2.21.2 # = pyspark's jackson-databind (jars/jackson-databind-*.jar)
ARTIFACTS=(
	"org.apache.spark:spark-sql-kafka-0-10_2.13:$SPARK_VERSION"
	"io.delta:delta-spark_${SPARK_VERSION%.*}_2.13:$DELTA_VERSION"
	# Delta Kernel brings jackson-datatype-jdk8 2.13, which pyspark lacks; this
	# one matches the rest of pyspark's Jackson.
	"com.fasterxml.jackson.datatype:jackson-datatype-jdk8:$JACKSON_VERSION"
)
# Jars whose classes pyspark ships under another name: RoaringBitmap 1.x,
# pyspark's, contains what the separate shims jar of 0.9 held.
EXCLUDE=(shims)

py="${PYTHON:-$OFS_ROOT/.dev/venv/bin/python}"
[[ -x $py ]] || py=python3
pyspark_jars=$("$py" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))') ||
	die "no pyspark in $py: pip install './python[spark]' first"
pyspark_version=$("$py" -c 'import pyspark; print(pyspark.__version__)')
[[ $pyspark_version == "$SPARK_VERSION" ]] ||
	die "pyspark is $pyspark_version, the connectors are built for Spark $SPARK_VERSION: keep python/pyproject.toml and $0 in step"
[[ -f $pyspark_jars/jackson-databind-$JACKSON_VERSION.jar ]] ||
	die "pyspark's Jackson is not $JACKSON_VERSION ($(cd "$pyspark_jars" && echo jackson-databind-*.jar)): update JACKSON_VERSION"

lib=$OFS_DEV_DIR/spark/lib
stamp=$(printf 'pyspark %s\n' "$pyspark_version"; printf '%s\n' "${ARTIFACTS[@]}")
if [[ -f $lib/.done && $(cat "$lib/.done") == "$stamp" ]]; then
	exit 0
fi

resolved=$OFS_DEV_DIR/spark/spark-jars
mvn_fetch "$resolved" "${ARTIFACTS[@]}"

# artifact NAME: the file name of a jar without its version and .jar
# (spark-sql-kafka-0-10_2.13-4.2.0.jar: spark-sql-kafka-0-10_2.13).
artifact() { sed -E 's/-[0-9]+(\.[0-9]+)+([-.][0-9A-Za-z]+)*\.jar$//' <<<"$1"; }

declare -A shipped=()
for f in "$pyspark_jars"/*.jar; do
	shipped[$(artifact "$(basename "$f")")]=1
done
for a in "${EXCLUDE[@]}"; do
	shipped[$a]=1
done

mkdir -p "$OFS_DEV_DIR/spark"
tmp=$(mktemp -d "$OFS_DEV_DIR/spark/.lib.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
kept=()
for f in "$resolved"/lib/*.jar; do
	name=$(basename "$f")
	[[ -n ${shipped[$(artifact "$name")]:-} ]] && continue
	cp "$f" "$tmp/"
	kept+=("$name")
done
for need in "spark-sql-kafka-0-10_2.13-$SPARK_VERSION.jar" "delta-spark_${SPARK_VERSION%.*}_2.13-$DELTA_VERSION.jar" "delta-storage-$DELTA_VERSION.jar"; do
	[[ -f $tmp/$need ]] || die "$need was not resolved or was filtered out"
done
printf '%s\n' "$stamp" >"$tmp/.done"
rm -rf "$lib"
mv "$tmp" "$lib"
trap - EXIT
log "${#kept[@]} jars in $lib: ${kept[*]}"
