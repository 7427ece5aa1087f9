"""Publishing a pandas DataFrame to the Kafka features topic."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from confluent_kafka import KafkaError, Producer

from ofs._keys import feature_key, key_text

_HEADERS = [("content-type", b"application/json")]


def _plain(v: Any) -> Any:
    """A cell as a JSON-ready value; None when it is missing (NaN, None, NA)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float):
        return None if math.isnan(v) else v
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return _plain(v.item())
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _event_time(v: Any) -> str | None:
    if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, str):
        return v
    t = pd.Timestamp(v)
    if t.tzinfo is None:
        raise ValueError(f"event time {v!r} has no time zone")
    return t.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def publish(
    df: pd.DataFrame,
    entity: str,
    group: str,
    brokers: str | Sequence[str],
    prefix: str = "ofs",
    *,
    keys: Sequence[str] | None = None,
    event_time: str | None = "event_time",
    timeout: float = 60.0,
    config: Mapping[str, Any] | None = None,
) -> tuple[int, int]:
    """Produce each row of ``df`` as a feature event of ``group`` to the
    ``<prefix>.features`` topic, flush, and return ``(sent, failed)``.

    The key columns are ``keys`` (the entity's key columns, in its
    key-column order) or, when ``keys`` is None, the named levels of
    ``df.index`` (``df.set_index("user_id")``). The column ``event_time``
    (timezone-aware timestamps or RFC 3339 strings; absent or NaT: the Kafka
    timestamp, that is the produce time) is the event time; every other
    column is a feature of the group. A missing cell (None, NaN, NA) is left
    out of the event, so the feature takes its default.

    Events are JSON in the natural form of docs/kafka.md with the header
    ``content-type: application/json``, keyed by :func:`ofs.feature_key`.
    ``sent`` counts the events Kafka acknowledged within ``timeout`` seconds,
    ``failed`` the others (refused, or not acknowledged in time). A row that
    cannot be encoded (a bad key value) raises ValueError before anything is
    produced. ``config`` adds librdkafka settings to the producer's.
    """
    if keys is None:
        names = [n for n in df.index.names if n is not None]
        if not names:
            raise ValueError("ofs: publish: give keys=[...] or name the key columns as the DataFrame's index")
        frame = df.reset_index()
        keys = names
    else:
        frame = df
    keys = list(keys)
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise ValueError(f"ofs: publish: no key column {missing}")
    has_time = event_time is not None and event_time in frame.columns
    features = [c for c in frame.columns if c not in keys and not (has_time and c == event_time)]

    n = len(frame)
    key_cols = [frame[k].tolist() for k in keys]
    feat_cols = [frame[c].tolist() for c in features]
    times = frame[event_time].tolist() if has_time else None
    messages: list[tuple[bytes, bytes]] = []
    for i in range(n):
        kv = [key_cols[j][i] for j in range(len(keys))]
        try:
            text = [key_text(_plain(v)) for v in kv]
            ev: dict[str, Any] = {
                "entity": entity,
                "keys": {k: (int(t) if not isinstance(_plain(v), str) else t) for k, v, t in zip(keys, kv, text)},
                "feature_group": group,
            }
            if times is not None:
                t = _event_time(times[i])
                if t is not None:
                    ev["event_time"] = t
            vals: dict[str, Any] = {}
            for c, col in zip(features, feat_cols):
                v = _plain(col[i])
                if v is not None:
                    vals[str(c)] = v
            ev["values"] = vals
            body = json.dumps(ev, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"ofs: publish {entity}/{group} row {i}: {e}") from e
        messages.append((feature_key(entity, group, *text).encode(), body.encode()))

    if not isinstance(brokers, str):
        brokers = ",".join(brokers)
    conf: dict[str, Any] = {
        "bootstrap.servers": brokers,
        "linger.ms": 10,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "lz4",
        # Kafka's Java partitioner (murmur2), as every ofs producer and Spark
        # use, rather than librdkafka's CRC32 default: one key, one partition.
        "partitioner": "murmur2_random",
        "message.timeout.ms": int(timeout * 1000),
    }
    conf.update(config or {})
    producer = Producer(conf)
    topic = f"{prefix}.features"
    counts = {"sent": 0, "failed": 0}

    def done(err: KafkaError | None, _msg: Any) -> None:
        counts["failed" if err is not None else "sent"] += 1

    for k, v in messages:
        while True:
            try:
                producer.produce(topic, value=v, key=k, headers=_HEADERS, on_delivery=done)
                break
            except BufferError:  # the local queue is full: wait for deliveries
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(timeout)
    return counts["sent"], counts["failed"] + left
