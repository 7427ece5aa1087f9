"""ofs.spark: the events it builds, the input it refuses, and Spark -> Kafka
-> store round trips against a running installation (see conftest.py).

One SparkSession (local[2]) for the whole run, with the jars of
python/spark-jars.sh (OFS_SPARK_JARS, else <OFS_DEV_DIR or .dev>/spark/lib).
Without pyspark or the jars the tests are skipped, or fail when CI=true or
OFS_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import numpy as np
import pytest

import ofs
from conftest import ROOT, Installation, required, wait_found


def _jars_location() -> str | None:
    if os.environ.get("OFS_SPARK_JARS"):
        return None  # ofs.spark.jars() reads it
    return str(Path(os.environ.get("OFS_DEV_DIR") or ROOT / ".dev") / "spark" / "lib")


def _unusable(e: Exception) -> NoReturn:
    msg = f"ofs.spark not usable ({e}): pip install './python[spark]' and run python/spark-jars.sh"
    if required():
        pytest.fail(f"Spark required (CI=true or OFS_REQUIRE_SERVICES=1): {msg}")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def ofs_spark() -> ModuleType:
    """The ofs.spark module (it needs pyspark)."""
    try:
        import ofs.spark
    except ImportError as e:
        _unusable(e)
    return ofs.spark


@pytest.fixture(scope="session")
def spark(ofs_spark: ModuleType) -> Iterator[Any]:
    """The test run's SparkSession, with Kafka and Delta Lake."""
    try:
        jars = ofs_spark.jars(_jars_location())
    except (ValueError, FileNotFoundError) as e:
        _unusable(e)
    warehouse = tempfile.mkdtemp(prefix="ofs-spark-warehouse")
    try:
        session = ofs_spark.session(
            "ofs-tests",
            master="local[2]",
            jars=jars,
            delta=True,
            conf={
                "spark.ui.enabled": "false",
                "spark.ui.showConsoleProgress": "false",
                "spark.sql.shuffle.partitions": "2",
                "spark.default.parallelism": "2",
                "spark.databricks.delta.snapshotPartitions": "2",
                "spark.sql.warehouse.dir": warehouse,
                "spark.driver.memory": "1g",
            },
        )
    except Exception as e:  # no Java, most likely
        _unusable(e)
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
        shutil.rmtree(warehouse, ignore_errors=True)


def _example() -> ModuleType:
    """examples/spark/delta_to_ofs.py, imported."""
    spec = importlib.util.spec_from_file_location("delta_to_ofs", ROOT / "examples" / "spark" / "delta_to_ofs.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------- no services


def test_import_ofs_does_not_import_pyspark() -> None:
    code = "import sys, ofs; assert not [m for m in sys.modules if m.startswith('pyspark')], 'pyspark imported'"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


TRICKY = ["a/b%", "%2F", "%", "/", "%25/%2F", "100%/x/", "ü/€", "plain", "a b"]


def test_feature_key_matches_ofs_feature_key(ofs_spark: ModuleType, spark: Any) -> None:
    rows = [(i - 3, s, i % 2 == 0) for i, s in enumerate(TRICKY)] + [(2**63 - 1, "x", True), (-(2**63), "y", False)]
    df = spark.createDataFrame(rows, "n long, s string, b boolean").selectExpr("n", "s", "cast(n % 100 as tinyint) as t", "cast(n % 30000 as smallint) as m", "cast(n % 1000 as int) as i", "abs(cast(n as decimal(20,0))) as d")
    for entity, group in [("user_item", "user_item_affinity"), ("e/%", "g%2F/")]:
        got = df.select(
            ofs_spark.feature_key(entity, group, "n", "s").alias("k2"),
            ofs_spark.feature_key(entity, group, "t", "m", "i", "d", "s").alias("k5"),
            "n", "s", "t", "m", "i", "d",
        ).collect()
        assert len(got) == len(rows)
        for r in got:
            assert r.k2 == ofs.feature_key(entity, group, str(r.n), r.s)
            assert r.k5 == ofs.feature_key(entity, group, str(r.t), str(r.m), str(r.i), str(r.d), r.s)
    # The message keys of events() are the same column.
    ev = ofs_spark.events(df.select("n", "s"), "user_item", "user_item_affinity", keys=["n", "s"]).collect()
    assert sorted(r.key for r in ev) == sorted(ofs.feature_key("user_item", "user_item_affinity", str(n), s) for n, s, _ in rows)


def test_events_are_the_natural_json_form(ofs_spark: ModuleType, spark: Any) -> None:
    t = datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    rows = [
        (1, "a/b%", 0.5, 7, True, "DE", [0.25, -1.5], t),
        (2, "x", float("nan"), None, None, None, None, None),
        (2**62, "y", None, -3, False, "", [], t),
    ]
    schema = "user_id long, sku string, score float, n int, flag boolean, country string, v array<float>, event_time timestamp"
    df = spark.createDataFrame(rows, schema)
    got = ofs_spark.events(df, "user_item", "g", keys=["user_id", "sku"]).collect()
    by_key = {r.key: r for r in got}
    assert set(by_key) == {"user_item/g/1/a%2Fb%25", "user_item/g/2/x", f"user_item/g/{2**62}/y"}
    for r in got:
        assert [(h.key, bytes(h.value)) for h in r.headers] == [("content-type", b"application/json")]
    ev = [json.loads(by_key[k].value) for k in ("user_item/g/1/a%2Fb%25", "user_item/g/2/x", f"user_item/g/{2**62}/y")]
    assert list(ev[0]) == ["entity", "keys", "feature_group", "event_time", "values"]
    assert ev[0] == {
        "entity": "user_item",
        "keys": {"user_id": 1, "sku": "a/b%"},
        "feature_group": "g",
        "event_time": "2026-11-25T08:00:00.123456Z",  # UTC, to the microsecond
        "values": {"score": 0.5, "n": 7, "flag": True, "country": "DE", "v": [0.25, -1.5]},
    }
    # Nulls and NaN are left out (the defaults apply), and so is a null event time.
    assert ev[1] == {"entity": "user_item", "keys": {"user_id": 2, "sku": "x"}, "feature_group": "g", "values": {}}
    # An int64 key keeps every digit; empty strings and vectors are values.
    assert ev[2]["keys"] == {"user_id": 2**62, "sku": "y"}
    assert ev[2]["values"] == {"n": -3, "flag": False, "country": "", "v": []}

    # No event time column: no event time. With event_time=None the column
    # is a feature, and timestamps are not feature values.
    ev = json.loads(ofs_spark.events(df.drop("event_time").limit(1), "user_item", "g", keys=["user_id", "sku"]).first().value)
    assert "event_time" not in ev and ev["values"]["score"] == 0.5
    with pytest.raises(ValueError, match=r"unsupported feature column types \{'event_time': 'timestamp'\}"):
        ofs_spark.events(df, "user_item", "g", keys=["user_id", "sku"], event_time=None)
    # No feature column: an event of defaults.
    ev = json.loads(ofs_spark.events(df.select("user_id", "sku").limit(1), "user_item", "g", keys=["user_id", "sku"]).first().value)
    assert ev["values"] == {}


def test_string_event_time_passes_through(ofs_spark: ModuleType, spark: Any) -> None:
    df = spark.createDataFrame([(1, "2026-11-25T10:00:00+01:00", 3)], "user_id long, event_time string, clicks_1h int")
    ev = json.loads(ofs_spark.events(df, "user", "user_activity", keys=["user_id"]).first().value)
    assert ev["event_time"] == "2026-11-25T10:00:00+01:00"
    assert ev["values"] == {"clicks_1h": 3}


def test_bad_input_is_refused(ofs_spark: ModuleType, spark: Any) -> None:
    df = spark.createDataFrame(
        [(1, 1.5, True, {"a": 1}, b"x", [[1]], datetime(2026, 1, 1))],
        "user_id long, f double, b boolean, m map<string,int>, bin binary, nested array<array<int>>, d timestamp_ntz",
    )
    # An unreachable broker: a refusal must come before any write is tried.
    nowhere = "127.0.0.1:1"
    cases = [
        (df.select("f"), ["user_id"], "event_time", r"no key column \['user_id'\]"),
        (df.select("user_id", "f"), [], "event_time", "no key column"),
        (df.select("f"), ["f"], "event_time", r"key columns must be integers or strings, not \{'f': 'double'\}"),
        (df.select("b", "f"), ["b"], "event_time", "key columns must be integers or strings"),
        (df.selectExpr("cast(user_id as decimal(10,2)) as k"), ["k"], "event_time", "key columns must be integers or strings"),
        (df.select("user_id", "m"), ["user_id"], "event_time", r"unsupported feature column types \{'m': 'map<string,int>'\}"),
        (df.select("user_id", "bin"), ["user_id"], "event_time", "unsupported feature column types"),
        (df.select("user_id", "nested"), ["user_id"], "event_time", "unsupported feature column types"),
        (df.select("user_id", "d"), ["user_id"], "d", "has no time zone"),
        (df.select("user_id", "b"), ["user_id"], "b", "want a timestamp or an RFC 3339 string"),
        (df.selectExpr("user_id", "f", "b as f"), ["user_id"], "event_time", r"columns named alike \['f'\]"),
    ]
    for frame, keys, event_time, message in cases:
        with pytest.raises(ValueError, match=message):
            ofs_spark.push(frame, "user", "user_profile", nowhere, keys=keys, event_time=event_time)
    # A null key is data, not schema: the job that builds the key fails.
    nulls = spark.createDataFrame([(None, 1.0)], "user_id long, f double")
    with pytest.raises(Exception, match="a null key value in user_id"):
        ofs_spark.events(nulls, "user", "user_profile", keys=["user_id"]).collect()


def test_jars_and_config(ofs_spark: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "b.jar").write_bytes(b"")
    (tmp_path / "a.jar").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")
    other = tmp_path / "sub"
    other.mkdir()
    (other / "c.jar").write_bytes(b"")
    monkeypatch.setenv("OFS_SPARK_JARS", f"{tmp_path}, {other / 'c.jar'}")
    want = [str(tmp_path / "a.jar"), str(tmp_path / "b.jar"), str(other / "c.jar")]
    assert ofs_spark.jars() == want
    assert ofs_spark.config(delta=True) == {
        "spark.jars": ",".join(want),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    }
    assert ofs_spark.config(other) == {"spark.jars": str(other / "c.jar")}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no jar in"):
        ofs_spark.jars(empty)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ofs_spark.jars(tmp_path / "missing")
    monkeypatch.delenv("OFS_SPARK_JARS")
    with pytest.raises(ValueError, match="OFS_SPARK_JARS"):
        ofs_spark.jars()


# ---------------------------------------------------------- round trips


def test_delta_round_trip_composite_key(ofs_install: Installation, client: ofs.Client, ofs_spark: ModuleType, spark: Any, tmp_path: Path) -> None:
    now = datetime.now(timezone.utc)
    rows = [
        (30_001, "a/b%", 0.25, 3, now),
        (30_001, "%2F", 1.5, None, now),  # a null cell: the default, 65535
        (30_002, "plain", None, 9, None),  # no event time: the Kafka timestamp
        (30_002, "ü/€ x", float("nan"), 0, now),  # NaN: left out, the default 0
        (30_003, "%", -2.0, 65535, now),
    ]
    schema = "user_id long, sku string, score float, last_seen_days int, event_time timestamp"
    table = str(tmp_path / "affinity")
    spark.createDataFrame(rows, schema).write.format("delta").save(table)

    df = spark.read.format("delta").load(table)
    n = ofs_spark.push(df, "user_item", "user_item_affinity", ofs_install.brokers, prefix=ofs_install.prefix, keys=["user_id", "sku"])
    assert n == len(rows)

    keys = [(r[0], r[1]) for r in rows]
    res = wait_found(client, "user_item", keys, "user_item_affinity")
    got = res.to_pandas()
    assert got["found:user_item_affinity"].tolist() == [True] * len(rows), got
    assert got["user_id"].tolist() == [k[0] for k in keys]
    assert got["sku"].tolist() == [k[1] for k in keys]
    assert got["score"].tolist() == [0.25, 1.5, 0.0, 0.0, -2.0]
    assert got["last_seen_days"].tolist() == [3, 65535, 9, 0, 65535]


def test_example_job_round_trip(ofs_install: Installation, client: ofs.Client, spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """examples/spark/delta_to_ofs.py --create-example, run in this session."""
    example = _example()
    table = str(tmp_path / "users")
    args = example.parse(["--table", table, "--create-example", "--brokers", ",".join(ofs_install.brokers), "--prefix", ofs_install.prefix])
    n = example.run(spark, args)
    assert n == len(example.EXAMPLE_ROWS)
    out = capsys.readouterr().out
    assert f"Pushed {n} rows of the Delta table {table} to {ofs_install.prefix}.features as user/user_profile events:" in out
    assert "|105    |NULL|NULL   |false     |12.25         |" in out

    ids = [r[0] for r in example.EXAMPLE_ROWS]
    res = wait_found(client, "user", ids, "user_profile")
    got = res.to_pandas()
    assert got["found:user_profile"].all(), got
    assert got["age"].tolist() == [r[1] if r[1] is not None else -1 for r in example.EXAMPLE_ROWS]
    assert got["country"].tolist() == [r[2] if r[2] is not None else "unknown" for r in example.EXAMPLE_ROWS]
    assert got["is_premium"].tolist() == [r[3] for r in example.EXAMPLE_ROWS]
    assert got["lifetime_value"].tolist() == [r[4] for r in example.EXAMPLE_ROWS]
    table_rows = {r.user_id: r for r in spark.read.format("delta").load(table).collect()}
    want = np.array([table_rows[i].embedding for i in ids], dtype=np.float32)
    np.testing.assert_allclose(np.stack(got["embedding"].to_list()), want, rtol=2**-11, atol=2**-24)  # fp16


def test_measure_push(ofs_install: Installation, client: ofs.Client, ofs_spark: ModuleType, spark: Any) -> None:
    """A measurement, printed, not asserted: ofs.spark.push of rows made in
    Spark (user_profile with a 16-float embedding), local[2]."""
    from pyspark.sql import functions as F

    n = int(os.environ.get("OFS_SPARK_BENCH_ROWS", "100000"))
    base = 1_000_000
    df = (
        spark.range(base, base + n, numPartitions=2)
        .withColumnRenamed("id", "user_id")
        .withColumn("age", (F.col("user_id") % 90).cast("int"))
        .withColumn("country", F.element_at(F.array(F.lit("DE"), F.lit("FR"), F.lit("US")), (F.col("user_id") % 3 + 1).cast("int")))
        .withColumn("is_premium", F.col("user_id") % 2 == 0)
        .withColumn("lifetime_value", F.col("user_id") * 0.5)
        .withColumn("embedding", F.transform(F.sequence(F.lit(0), F.lit(15)), lambda i: ((F.col("user_id") + i) % 64 / 64.0).cast("float")))
        .withColumn("event_time", F.current_timestamp())
    )
    start = time.perf_counter()
    got = ofs_spark.push(df, "user", "user_profile", ofs_install.brokers, prefix=ofs_install.prefix, keys=["user_id"])
    took = time.perf_counter() - start
    assert got == n
    print(f"\nMEASUREMENT ofs.spark.push {n} user_profile rows (16-float embedding), local[2]: {took:.2f} s, {n / took:,.0f} rows/s")
    # The last rows reached the store (the ingest processor keeps up).
    sample = [base, base + n // 2, base + n - 1]
    start = time.perf_counter()
    res = wait_found(client, "user", sample, "user_profile", within=180)
    assert res.found("user_profile").all()
    assert res.to_pandas()["age"].tolist() == [k % 90 for k in sample]
    print(f"MEASUREMENT the sample of those rows found in the store {time.perf_counter() - start:.2f} s after the push returned")
