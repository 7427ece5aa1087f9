"""Pushing a Spark DataFrame to the Kafka features topic.

:func:`push` is :func:`ofs.publish` for Spark: one JSON feature event per row
(the natural form of docs/kafka.md, header ``content-type: application/json``)
to ``<prefix>.features``, keyed like :func:`ofs.feature_key`, written by
Spark's Kafka sink from the executors. Keys and values are built with Spark
SQL expressions, so no row passes through Python. :func:`events` is the
DataFrame that :func:`push` writes (``key``, ``value``, ``headers``), for a
Structured Streaming query (``events(...).writeStream.format("kafka")``).

Spark needs its Kafka connector on the class path, and Delta Lake's jars to
read Delta tables; neither ships with pyspark. ``python/spark-jars.sh``
fetches them into ``.dev/spark/lib``; :func:`jars` lists them (from
``OFS_SPARK_JARS``), :func:`config` is the Spark configuration that loads
them, and :func:`session` builds a SparkSession with it::

    spark = ofs.spark.session(delta=True)   # OFS_SPARK_JARS=.dev/spark/lib
    df = spark.read.format("delta").load("/data/users")
    n = ofs.spark.push(df, "user", "user_profile", "kafka:9092", keys=["user_id"])

Needs the extra ``ofs[spark]`` (pyspark; delta-spark for Delta tables).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

try:
    from pyspark.sql import Column, SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
except ImportError as e:  # pragma: no cover - depends on the installation
    raise ImportError("ofs.spark needs pyspark: pip install 'ofs[spark]'") from e

from ofs._keys import _escape

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["JARS_ENV", "config", "events", "feature_key", "jars", "push", "session"]

JARS_ENV = "OFS_SPARK_JARS"
"""The environment variable :func:`jars` reads: a comma-separated list of
jar files and directories (each meaning the ``*.jar`` files in it)."""

# The event time in RFC 3339, in UTC, to the microsecond (what the ingest
# processor keeps): 2026-11-25T10:00:00.123456Z.
_JSON_OPTIONS = {
    "timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
    "timeZone": "UTC",
    "ignoreNullFields": "true",
}
_INTEGER_TYPES = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
_SCALAR_TYPES = (T.BooleanType, *_INTEGER_TYPES, T.FloatType, T.DoubleType, T.DecimalType, T.StringType)


def jars(path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None) -> list[str]:
    """Return the jar files to put on Spark's class path for ofs.spark.

    ``path`` is a jar file, a directory (its ``*.jar`` files, sorted), or a
    sequence of them; when it is None, the comma-separated list in the
    environment variable ``OFS_SPARK_JARS``. ``python/spark-jars.sh`` fetches
    Spark's Kafka connector and Delta Lake, without what pyspark already
    ships, into ``<repo>/.dev/spark/lib``: point ``OFS_SPARK_JARS`` there.

    Raises ValueError when no location is given, FileNotFoundError when a
    location does not exist or holds no jar.
    """
    if path is None:
        env = os.environ.get(JARS_ENV, "")
        if not env.strip():
            raise ValueError(f"ofs.spark: no jars: set {JARS_ENV} to the directory python/spark-jars.sh fills (.dev/spark/lib), or pass the path")
        places: list[str | os.PathLike[str]] = [p.strip() for p in env.split(",") if p.strip()]
    elif isinstance(path, (str, os.PathLike)):
        places = [path]
    else:
        places = list(path)
    out: list[str] = []
    for place in places:
        p = Path(place)
        if p.is_dir():
            found = sorted(str(j.resolve()) for j in p.glob("*.jar"))
            if not found:
                raise FileNotFoundError(f"ofs.spark: no jar in {p} (run python/spark-jars.sh)")
            out.extend(found)
        elif p.is_file():
            out.append(str(p.resolve()))
        else:
            raise FileNotFoundError(f"ofs.spark: {p} does not exist (run python/spark-jars.sh)")
    return out


def config(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    *,
    delta: bool = False,
) -> dict[str, str]:
    """Return the Spark configuration ofs.spark needs: ``spark.jars`` with
    :func:`jars` of ``path``, and with ``delta=True`` Delta Lake's SQL
    extension and catalog.

    Apply it before the first SparkSession of the process is created (a
    builder's ``.config(key, value)``, or ``spark-submit --conf``): the jars
    of a running JVM do not change.
    """
    conf = {"spark.jars": ",".join(jars(path))}
    if delta:
        conf["spark.sql.extensions"] = "io.delta.sql.DeltaSparkSessionExtension"
        conf["spark.sql.catalog.spark_catalog"] = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    return conf


def session(
    app_name: str = "ofs",
    *,
    master: str | None = None,
    jars: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    delta: bool = False,
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """Return ``SparkSession.builder.getOrCreate()`` with :func:`config`
    (``jars`` is its ``path``) and ``conf`` on top, named ``app_name``, on
    ``master`` (None: Spark's default, or what spark-submit set).

    When the process already has a SparkSession, that session is returned and
    the jars are not added (see :func:`config`). A ``local`` master binds the
    driver to 127.0.0.1 (unless ``conf`` says otherwise): a Spark inside one
    process needs no network address, and should not listen on one. Other
    masters, and None (spark-submit's), keep Spark's own choice.
    """
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    settings = dict(config(jars, delta=delta))
    if master is not None and master.startswith("local"):
        settings.update({"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"})
    for k, v in {**settings, **(conf or {})}.items():
        builder = builder.config(k, v)
    return builder.getOrCreate()


def _col(name: str) -> Column:
    """A top-level column by name, dots and all."""
    return F.col("`" + name.replace("`", "``") + "`")


def _escaped(c: Column) -> Column:
    # '%' first, so that the '%' of "%2F" is not escaped again.
    return F.replace(F.replace(c, F.lit("%"), F.lit("%25")), F.lit("/"), F.lit("%2F"))


def feature_key(entity: str, group: str, *keys: str | Column) -> Column:
    """Return the Kafka message key of a feature event as a string Column:
    :func:`ofs.feature_key` of each row's key values.

    ``keys`` are the key columns (names or Columns) in the entity's
    key-column order: integers are written in decimal, strings as they are,
    and ``%`` and ``/`` are escaped in every part. A null key value fails
    the Spark job that evaluates the column.
    """
    if not keys:
        raise ValueError("ofs.spark: feature_key: no key column")
    parts = [F.lit(_escape(entity) + "/" + _escape(group))]
    for k in keys:
        c = _col(k) if isinstance(k, str) else k
        text = F.when(c.isNull(), F.raise_error(F.lit(f"ofs.spark: {entity}/{group}: a null key value in {k}")))
        parts.append(text.otherwise(_escaped(c.cast("string"))))
    return F.concat_ws("/", *parts)


def _key_type_ok(t: T.DataType) -> bool:
    return isinstance(t, (*_INTEGER_TYPES, T.StringType)) or (isinstance(t, T.DecimalType) and t.scale == 0)


def _feature_type_ok(t: T.DataType) -> bool:
    if isinstance(t, T.ArrayType):
        t = t.elementType
    return isinstance(t, _SCALAR_TYPES)


def _feature(name: str, t: T.DataType) -> Column:
    """A feature column, NaN as null (a missing cell, as in ofs.publish)."""
    c = _col(name)
    if isinstance(t, (T.FloatType, T.DoubleType)):
        c = F.nanvl(c, F.lit(None).cast(t))
    return c.alias(name)


def events(
    df: DataFrame,
    entity: str,
    group: str,
    *,
    keys: Sequence[str],
    event_time: str | None = "event_time",
) -> DataFrame:
    """Return the rows of ``df`` as feature events of ``group``: a DataFrame
    of ``key`` and ``value`` (strings) and ``headers``, the form Spark's
    Kafka sink writes. See :func:`push` for the columns and checks.
    """
    where = f"ofs.spark: {entity}/{group}"
    keys = [keys] if isinstance(keys, str) else list(keys)
    if not keys:
        raise ValueError(f"{where}: no key column: give keys=[...] in the entity's key-column order")
    names = Counter(f.name for f in df.schema.fields)
    dup = sorted(n for n, c in names.items() if c > 1)
    if dup:
        raise ValueError(f"{where}: columns named alike {dup}: select or rename them")
    types = {f.name: f.dataType for f in df.schema.fields}
    missing = [k for k in keys if k not in types]
    if missing:
        raise ValueError(f"{where}: no key column {missing} (the DataFrame has {sorted(types)})")
    bad = {k: types[k].simpleString() for k in keys if not _key_type_ok(types[k])}
    if bad:
        raise ValueError(f"{where}: key columns must be integers or strings, not {bad}")
    has_time = event_time is not None and event_time in types
    if has_time:
        t = types[event_time]
        if isinstance(t, T.TimestampNTZType):
            raise ValueError(f"{where}: event time column {event_time!r} has no time zone (timestamp_ntz): cast it to a timestamp")
        if not isinstance(t, (T.TimestampType, T.StringType)):
            raise ValueError(f"{where}: event time column {event_time!r} is {t.simpleString()}, want a timestamp or an RFC 3339 string")
    features = [n for n in types if n not in keys and not (has_time and n == event_time)]
    bad = {n: types[n].simpleString() for n in features if not _feature_type_ok(types[n])}
    if bad:
        raise ValueError(
            f"{where}: unsupported feature column types {bad}: want booleans, integers, floats, decimals, strings or arrays of them"
        )

    fields = [
        F.lit(entity).alias("entity"),
        F.struct(*[_col(k).alias(k) for k in keys]).alias("keys"),
        F.lit(group).alias("feature_group"),
    ]
    if has_time:
        fields.append(_col(event_time).alias("event_time"))
    fields.append(F.struct(*[_feature(n, types[n]) for n in features]).alias("values"))
    headers = F.array(F.struct(F.lit("content-type").alias("key"), F.lit("application/json").cast("binary").alias("value")))
    return df.select(
        feature_key(entity, group, *keys).alias("key"),
        F.to_json(F.struct(*fields), _JSON_OPTIONS).alias("value"),
        headers.alias("headers"),
    )


def push(
    df: DataFrame,
    entity: str,
    group: str,
    brokers: str | Sequence[str],
    prefix: str = "ofs",
    *,
    keys: Sequence[str],
    event_time: str | None = "event_time",
    options: Mapping[str, str] | None = None,
) -> int:
    """Write each row of ``df`` as a feature event of ``group`` to the
    ``<prefix>.features`` topic with Spark's Kafka sink, and return the
    number of events written, the rows of ``df``. They are counted by a
    Spark job of their own before the write (cheap on a table scan; persist
    a DataFrame that is costly to compute); an empty ``df`` is not written.

    The columns of ``df`` are as :func:`ofs.publish` takes them. ``keys``
    are the entity's key columns, in its key-column order (integers, or
    decimals of scale 0 for unsigned 64-bit ids, or strings). The column
    ``event_time`` (a timestamp, written in UTC to the microsecond, or an
    RFC 3339 string; absent or null: the Kafka timestamp, that is the
    produce time) is the event time. Every other column is a feature of the
    group: booleans, integers, floats, decimals, strings, or arrays of them
    for vectors. A null cell, or a NaN, is left out of the event, so the
    feature takes its default.

    Events are JSON in the natural form of docs/kafka.md with the header
    ``content-type: application/json``, keyed by :func:`feature_key` (the
    text of :func:`ofs.feature_key`). The producer waits for all in-sync
    replicas (``kafka.acks=all``) and is idempotent; ``options`` adds writer
    options on top, for example ``{"kafka.security.protocol": "SSL"}``.

    Raises ValueError before anything is written for a missing key column,
    a key, event time or feature column of a type that cannot be sent.
    Values the ingest processor refuses (a feature the group lacks, a value
    out of range, an infinite float) go to the dead letters, as with
    :func:`ofs.publish`. A null key value, or a write Kafka does not
    acknowledge, fails the Spark job, whose error is raised; rows of other
    tasks may have been written by then, and pushing the same rows again is
    safe (per key the latest event time wins).
    """
    out = events(df, entity, group, keys=keys, event_time=event_time)
    if not isinstance(brokers, str):
        brokers = ",".join(brokers)
    opts = {
        "kafka.bootstrap.servers": brokers,
        "topic": f"{prefix}.features",
        "kafka.acks": "all",
        "kafka.enable.idempotence": "true",
        "kafka.compression.type": "lz4",
        "kafka.linger.ms": "10",
    }
    opts.update(options or {})
    # The count is a job of its own: Spark's Kafka sink writes through the
    # V1 path, whose observed metrics (DataFrame.observe) never reach the
    # driver's Observation, so they cannot count the rows written.
    n = df.count()
    if n:
        out.write.format("kafka").options(**opts).save()
    return n
