"""Push a Delta Lake table to ofs with Spark.

Reads the Delta table at --table and writes each row as a feature event of
--group (entity --entity, key columns --keys) to the Kafka topic
<prefix>.features with ofs.spark.push; the ingest processor then writes the
rows to the online store. With --create-example it first writes a small table
there: five users of the user_profile group of examples/registry.yaml, one of
them with null cells, which take the features' defaults.

    pip install './python[spark]'     # pyspark and delta-spark, pinned
    python/spark-jars.sh              # Spark's Kafka connector and Delta, into .dev/spark/lib
    python examples/spark/delta_to_ofs.py --table /tmp/ofs_users_delta --create-example \\
        --brokers 127.0.0.1:9092

The jars are read from OFS_SPARK_JARS, else from .dev/spark/lib. Java 17.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

import ofs.spark

ROOT = Path(__file__).resolve().parents[2]

# pyspark 4.2 warns that it does not fully support pandas 3; this job uses no pandas.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)

# Five users of user_profile (examples/registry.yaml). User 105 has no age and
# no country: ofs serves the defaults, -1 and "unknown".
EXAMPLE_SCHEMA = "user_id long, age int, country string, is_premium boolean, lifetime_value double"
EXAMPLE_ROWS = [
    (101, 34, "DE", True, 1520.5),
    (102, 27, "FR", False, 89.9),
    (103, 45, "US", True, 4210.0),
    (104, 19, "JP", False, 0.0),
    (105, None, None, False, 12.25),
]
EMBEDDING_LENGTH = 16


def create_example(spark: SparkSession, table: str) -> None:
    """(Over)write the example table at ``table``: EXAMPLE_ROWS, an
    ``embedding`` of 16 floats per user, and the time of writing as each
    row's ``event_time``."""
    df = spark.createDataFrame(EXAMPLE_ROWS, EXAMPLE_SCHEMA)
    embedding = F.transform(F.sequence(F.lit(0), F.lit(EMBEDDING_LENGTH - 1)), lambda i: ((F.col("user_id") % 7 + i) / 16.0).cast("float"))
    df = df.withColumn("embedding", embedding).withColumn("event_time", F.current_timestamp())
    df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(table)


def run(spark: SparkSession, args: argparse.Namespace) -> int:
    """Push the table of ``args``; return the number of rows pushed."""
    if args.create_example:
        create_example(spark, args.table)
    df: DataFrame = spark.read.format("delta").load(args.table)
    keys = args.keys.split(",")
    n = ofs.spark.push(df, args.entity, args.group, args.brokers, prefix=args.prefix, keys=keys)
    print(f"Pushed {n} rows of the Delta table {args.table} to {args.prefix}.features as {args.entity}/{args.group} events:")
    shown = [c for c in df.columns if c not in ("event_time", "embedding")]
    df.select(*shown).orderBy(*keys).show(20, truncate=False)
    return n


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", required=True, help="path of the Delta table")
    p.add_argument("--create-example", action="store_true", help="first write the example table at --table")
    p.add_argument("--brokers", default="127.0.0.1:9092", help="Kafka bootstrap servers (default: %(default)s)")
    p.add_argument("--prefix", default="ofs", help="topic prefix of the installation (default: %(default)s)")
    p.add_argument("--entity", default="user", help="entity (default: %(default)s)")
    p.add_argument("--group", default="user_profile", help="feature group (default: %(default)s)")
    p.add_argument("--keys", default="user_id", help="the entity's key columns, comma-separated, in order (default: %(default)s)")
    p.add_argument("--master", default="local[*]", help="Spark master (default: %(default)s, Spark in this process)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # OFS_SPARK_JARS when set, else where python/spark-jars.sh puts them.
    jars = None if os.environ.get(ofs.spark.JARS_ENV) else Path(os.environ.get("OFS_DEV_DIR") or ROOT / ".dev") / "spark" / "lib"
    spark = ofs.spark.session(
        "delta_to_ofs",
        master=args.master,
        jars=jars,
        delta=True,
        # Small partition counts: the example table is a few rows.
        conf={
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.databricks.delta.snapshotPartitions": "2",
        },
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        run(spark, args)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
