"""The gRPC client: Retrieve into numpy and pandas, and Persist."""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import numpy as np
import pandas as pd

from ofs._keys import key_text
from ofs._proto.ofs.feature.v1 import event_pb2, service_pb2, service_pb2_grpc
from ofs._proto.ofs.registry.v1 import registry_pb2, registry_pb2_grpc
from ofs._retry import Attempts, new_key, now, persist_error
from ofs._values import to_value

_DT = registry_pb2
# Element type of each dense matrix type (little-endian, as the server sends).
_MATRIX_DTYPES: dict[int, np.dtype] = {
    _DT.DATA_TYPE_FP32: np.dtype("<f4"),
    _DT.DATA_TYPE_FP64: np.dtype("<f8"),
    _DT.DATA_TYPE_INT64: np.dtype("<i8"),
    _DT.DATA_TYPE_UINT64: np.dtype("<u8"),
}
# The pandas dtype of a scalar column of each feature type: integers keep
# their declared width, bools are bool, fp8/fp16 stay widened to float32.
_COLUMN_DTYPES: dict[int, np.dtype] = {
    _DT.DATA_TYPE_BOOL: np.dtype(bool),
    _DT.DATA_TYPE_INT8: np.dtype(np.int8),
    _DT.DATA_TYPE_INT16: np.dtype(np.int16),
    _DT.DATA_TYPE_INT32: np.dtype(np.int32),
    _DT.DATA_TYPE_INT64: np.dtype(np.int64),
    _DT.DATA_TYPE_UINT8: np.dtype(np.uint8),
    _DT.DATA_TYPE_UINT16: np.dtype(np.uint16),
    _DT.DATA_TYPE_UINT32: np.dtype(np.uint32),
    _DT.DATA_TYPE_UINT64: np.dtype(np.uint64),
    _DT.DATA_TYPE_FP8E4M3: np.dtype(np.float32),
    _DT.DATA_TYPE_FP8E5M2: np.dtype(np.float32),
    _DT.DATA_TYPE_FP16: np.dtype(np.float32),
    _DT.DATA_TYPE_FP32: np.dtype(np.float32),
    _DT.DATA_TYPE_FP64: np.dtype(np.float64),
}


class OfsError(Exception):
    """A call to the ofs services failed; ``code`` is the gRPC status code
    (None for an error found before any call)."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


class OfsPersistError(OfsError):
    """A Persist that did not return OK. ``outcome`` is ``"not_applied"``
    (nothing was written) or ``"unknown"`` (it may have been, or the ingest
    processors will write it from the log): call ``persist`` again with the
    same rows and ``idempotency_key=e.idempotency_key,
    stamp_time=e.stamp_time`` to find out; that is idempotent, and never
    makes the write newer than it was."""

    def __init__(
        self,
        message: str,
        code: grpc.StatusCode | None = None,
        *,
        outcome: str,
        idempotency_key: str,
        stamp_time: _dt.datetime,
    ) -> None:
        super().__init__(message, code)
        self.outcome = outcome
        self.idempotency_key = idempotency_key
        self.stamp_time = stamp_time


class RetrieveResult:
    """The answer of :meth:`Client.retrieve`: one row per requested key.

    The numeric values are in dense matrices, one per element type, which
    :meth:`matrix` returns as read-only numpy views of the response's bytes
    (no copy); :meth:`to_pandas` builds a DataFrame from them.
    """

    def __init__(
        self,
        response: service_pb2.RetrieveResponse,
        groups: Sequence[str],
        key_columns: Sequence[registry_pb2.KeyColumn],
        key_values: Sequence[str],
        columns: Sequence[service_pb2.Column] | None = None,
    ) -> None:
        self.response = response
        """The RetrieveResponse protobuf message, as received."""
        self.groups: list[str] = list(groups)
        """The feature groups requested, in order: the order of the found flags."""
        self._key_columns = list(key_columns)
        self._key_values = key_values
        # The answer's columns, or the client's kept list (shared by the
        # answers of one shape, never changed) when the answer left them out.
        self._columns = list(response.columns) if columns is None else columns
        # The compact form (what retrieve asks for): found flags and strings
        # row-major in the answer itself; else one Row message per key.
        self._compact = len(response.found) > 0
        self._rows = len(response.found) // max(len(self.groups), 1) if self._compact else len(response.rows)
        self._strings = len(response.strings) // self._rows if self._compact and self._rows else 0
        self._matrices: dict[int, np.ndarray] = {}
        for i, m in enumerate(response.matrices):
            dt = _MATRIX_DTYPES.get(m.type)
            if dt is None:
                raise OfsError(f"ofs: matrix {i} has an unknown element type {m.type}")
            a = np.frombuffer(m.data, dtype=dt)
            self._matrices[i] = a.reshape(self._rows, m.width) if m.width else np.empty((self._rows, 0), dt)

    def __len__(self) -> int:
        return self._rows

    @property
    def columns(self) -> list[service_pb2.Column]:
        """The columns of the answer (feature group, name, type, vector length,
        matrix and offset), in request order."""
        return list(self._columns)

    @property
    def registry_revision(self) -> int:
        """The registry revision the request was resolved against."""
        return self.response.registry_revision

    def matrix(self, dtype: Any = np.float32) -> np.ndarray:
        """Return the dense matrix of one element type as a read-only
        ``(rows, width)`` numpy view of the response, without copying.

        ``dtype`` is float32 (which holds fp8, fp16 and fp32 features),
        float64, int64 (signed integers and bools as 0/1) or uint64. A type
        that the answer has no column of gives a ``(rows, 0)`` array.
        """
        want = np.dtype(dtype).newbyteorder("<")
        for i, m in enumerate(self.response.matrices):
            if _MATRIX_DTYPES[m.type] == want:
                return self._matrices[i]
        if want not in _MATRIX_DTYPES.values():
            raise ValueError(f"ofs: no dense matrix holds {np.dtype(dtype)}; use float32, float64, int64 or uint64")
        return np.empty((self._rows, 0), want)

    def found(self, group: str) -> np.ndarray:
        """Return, per row, whether a block of ``group`` was found (else the
        row holds the group's defaults)."""
        j = self.groups.index(group)
        if self._compact:
            return np.array(self.response.found, dtype=bool).reshape(self._rows, len(self.groups))[:, j]
        return np.fromiter((r.found[j] for r in self.response.rows), dtype=bool, count=self._rows)

    def column(self, name: str, group: str | None = None) -> np.ndarray:
        """Return one feature column: a ``(rows,)`` array for a scalar, a
        ``(rows, n)`` view for a vector of n, an object array for strings.
        ``group`` is needed only when two groups have a feature of that name."""
        return self._column_values(self._find(name, group))

    def _find(self, name: str, group: str | None) -> service_pb2.Column:
        hits = [c for c in self._columns if c.name == name and (group is None or c.feature_group == group)]
        if len(hits) != 1:
            raise KeyError(f"ofs: {'no' if not hits else 'more than one'} column {name!r}" + (f" in {group}" if group else ""))
        return hits[0]

    def _column_values(self, c: service_pb2.Column) -> np.ndarray:
        if c.matrix < 0:  # strings
            if self._compact:
                w, strs = self._strings, self.response.strings
                starts = range(c.offset, self._rows * w, w) if w else range(0)
                if c.vector_length:
                    return np.array([list(strs[i : i + c.vector_length]) for i in starts], dtype=object)
                return np.array([strs[i] for i in starts], dtype=object)
            rows = self.response.rows
            if c.vector_length:
                return np.array([list(r.strings[c.offset : c.offset + c.vector_length]) for r in rows], dtype=object)
            return np.array([r.strings[c.offset] for r in rows], dtype=object)
        m = self._matrices[c.matrix]
        if c.vector_length:
            v = m[:, c.offset : c.offset + c.vector_length]
            return v.astype(bool) if c.type == _DT.DATA_TYPE_BOOL else v
        v = m[:, c.offset]
        dt = _COLUMN_DTYPES.get(c.type)
        return v if dt is None or dt == v.dtype else v.astype(dt)

    def to_pandas(self, expand_vectors: bool = False) -> pd.DataFrame:
        """Return the answer as a pandas DataFrame, one row per key.

        Columns, in order: the entity's key columns (integers as int64 or
        uint64, strings as objects), ``found:<group>`` (bool) for each group
        requested, then the features in answer order. A feature is named by
        its name, or ``<group>.<name>`` when two groups of the request have a
        feature of that name.

        Numeric columns are slices of the dense matrices
        (``numpy.frombuffer(...).reshape(rows, width)``), converted to the
        feature's declared integer width; fp8 and fp16 features are float32.
        A vector feature is, by default, one column whose cells are read-only
        numpy views of the matrix row (``df["embedding"].iloc[i]`` is an
        ndarray of its length); with ``expand_vectors=True`` it is n columns
        ``name[0]`` ... ``name[n-1]`` instead.
        """
        data: dict[str, Any] = {}
        width = len(self._key_columns)
        for j, kc in enumerate(self._key_columns):
            texts = np.array(self._key_values[j::width], dtype=object) if width else np.array([], dtype=object)
            if kc.type in (_DT.DATA_TYPE_INT32, _DT.DATA_TYPE_INT64):
                data[kc.name] = texts.astype(np.int64)
            elif kc.type in (_DT.DATA_TYPE_UINT32, _DT.DATA_TYPE_UINT64):
                data[kc.name] = texts.astype(np.uint64)
            else:
                data[kc.name] = texts
        for g in self.groups:
            data[f"found:{g}"] = self.found(g)
        names: dict[str, int] = {}
        for c in self._columns:
            names[c.name] = names.get(c.name, 0) + 1
        for c in self._columns:
            name = c.name if names[c.name] == 1 else f"{c.feature_group}.{c.name}"
            v = self._column_values(c)
            if v.ndim == 2:
                if expand_vectors:
                    for k in range(v.shape[1]):
                        data[f"{name}[{k}]"] = v[:, k]
                else:
                    col = np.empty(self._rows, dtype=object)
                    col[:] = list(v)
                    data[name] = col
            else:
                data[name] = v
        return pd.DataFrame(data, index=pd.RangeIndex(self._rows), copy=False)


class Client:
    """A connection to an ofs server's FeatureService and RegistryService.

    ``addr`` is ``host:port``; the connection is plain text unless
    ``credentials`` are given, for example
    ``grpc.ssl_channel_credentials(root_certificates=ca_pem)`` for a server
    with TLS (add ``private_key`` and ``certificate_chain`` for mutual TLS).
    ``token`` is sent as
    ``authorization: Bearer <token>``; ``timeout`` (seconds) is the deadline of
    each call, retries included; each attempt gets an equal share of what is
    left of it. A call is retried only when the server marks its error
    retryable, or when the error is the connection's (UNAVAILABLE) or an
    attempt's share of the deadline, with full-jitter exponential backoff
    (``retry_base`` doubling up to ``retry_max`` seconds, at most
    ``max_attempts`` attempts) while the deadline allows. Use it as a context manager or call
    :meth:`close`.
    """

    def __init__(
        self,
        addr: str,
        token: str | None = None,
        timeout: float = 10.0,
        *,
        max_attempts: int = 5,
        retry_base: float = 0.05,
        retry_max: float = 1.0,
        credentials: grpc.ChannelCredentials | None = None,
        channel: grpc.Channel | None = None,
    ) -> None:
        _setup(self, addr, token, timeout, max_attempts, retry_base, retry_max, channel or _channel(grpc, addr, credentials))
        self._key_columns: dict[str, list[registry_pb2.KeyColumn]]

    def close(self) -> None:
        """Close the connection."""
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, what: str, method: Any, request: Any) -> Any:
        return self._attempts(what, method, request, self._new_attempts())[0]

    def _new_attempts(self) -> Attempts:
        return Attempts(self.timeout, self.max_attempts, self.retry_base, self.retry_max)

    def _attempts(self, what: str, method: Any, request: Any, a: Attempts) -> tuple[Any, grpc.RpcError | None]:
        """Call until OK or retries are over; return the answer, or raise
        OfsError (return the last error instead when what is empty)."""
        while True:
            try:
                return method(request, timeout=a.timeout(), metadata=self._metadata), None
            except grpc.RpcError as e:
                wait = a.retry(e)
                if wait is not None:
                    time.sleep(wait)
                    continue
                if not what:
                    return None, e
                raise _error(what, e) from e

    def entity(self, name: str) -> registry_pb2.Entity:
        """Return an entity of the registry, with its key columns."""
        return self._call(f"entity {name}", self._registry.GetEntity, registry_pb2.GetEntityRequest(name=name)).entity

    def feature_group(self, name: str) -> registry_pb2.FeatureGroup:
        """Return a feature group with every version; the last is active."""
        req = registry_pb2.GetFeatureGroupRequest(name=name)
        return self._call(f"feature group {name}", self._registry.GetFeatureGroup, req).feature_group

    def _keys_of(self, entity: str) -> list[registry_pb2.KeyColumn]:
        kc = self._key_columns.get(entity)
        if kc is None:  # key columns never change: asked once per entity
            kc = self._key_columns[entity] = list(self.entity(entity).key_columns)
        return kc

    def retrieve(
        self,
        entity: str,
        keys: Sequence[Any],
        groups: Sequence[str] | str,
        features: Mapping[str, Sequence[str]] | None = None,
    ) -> RetrieveResult:
        """Read the latest values of features for a batch of entity keys.

        ``keys`` holds one key per row of the answer, in order: a value for an
        entity of one key column (an integer or a string), else a tuple of
        values in key-column order. They are sent in the compact
        ``key_values`` form. ``groups`` names the feature groups; ``features``
        optionally maps a group to the features wanted from it (default:
        every feature of the active version). Missing or expired values read
        as defaults; see :meth:`RetrieveResult.found`.

        The entity's key columns are read from the registry on the first
        call for an entity (to name the key columns of the DataFrame).
        """
        if isinstance(groups, str):
            groups = [groups]
        kcols = self._keys_of(entity)
        req, flat = _retrieve_request(entity, keys, groups, features, kcols)
        known = _ask_columns(self, req)
        resp = self._call(f"retrieve {entity}", self._features.Retrieve, req)
        return RetrieveResult(resp, groups, kcols, flat, _keep_columns(self, req, resp, known))

    def persist(
        self,
        group: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
        stamp_time: _dt.datetime | None = None,
    ) -> int:
        """Write rows of one feature group; return once they are durable in
        Kafka and the group's store, and every live server answers them (or
        newer values) to a retrieve. Returns the number of rows written.

        Every attempt carries the same ``idempotency_key`` (a random one
        unless given) and rows without event_time are stamped once, with
        ``stamp_time`` (default: now), before the first attempt, so a retry
        never makes the write newer than it was. A failure raises
        :class:`OfsPersistError`, whose ``outcome`` says whether the write
        may have been done.

        Each row is a dict like Go's ``sdk.Row``: ``{"keys": {column: value},
        "values": {feature: value}, "event_time": datetime}`` (event_time is
        optional: the time of the call). Values are bools, ints, floats,
        strings, or lists / numpy arrays of them for vectors; a feature left
        out is written as its default. The rows are refused whole when one is
        invalid.
        """
        key, stamp = idempotency_key or new_key(), stamp_time or now()
        a = self._new_attempts()
        resp, err = self._attempts("", self._features.Persist, _persist_request(group, rows, key, stamp), a)
        if err is not None:
            raise persist_error(OfsPersistError, f"persist {group}", err, a, key, stamp) from err
        return resp.rows


def _retrieve_request(
    entity: str,
    keys: Sequence[Any],
    groups: Sequence[str],
    features: Mapping[str, Sequence[str]] | None,
    kcols: Sequence[registry_pb2.KeyColumn],
) -> tuple[service_pb2.RetrieveRequest, list[str]]:
    """The Retrieve request of :meth:`Client.retrieve` and the keys' text."""
    width = len(kcols)
    flat: list[str] = []
    try:
        if width == 1:
            for k in keys:
                t = type(k)
                if t is int:  # the common cases first: a call costs microseconds
                    flat.append(str(k))
                elif t is str:
                    flat.append(k)
                else:
                    if isinstance(k, (tuple, list)):
                        if len(k) != 1:
                            raise ValueError(f"key {k!r} has {len(k)} values; {entity} has 1 key column")
                        (k,) = k
                    flat.append(key_text(k))
        else:
            for k in keys:
                if len(k) != width:
                    raise ValueError(f"key {k!r} has {len(k)} values; {entity} has {width} key columns")
                flat.extend(key_text(v) for v in k)
    except (TypeError, ValueError) as e:
        raise OfsError(f"ofs: retrieve {entity}: {e}") from e
    features = features or {}
    req = service_pb2.RetrieveRequest(
        entity=entity,
        key_values=flat,
        compact=True,
        groups=[service_pb2.GroupSelection(feature_group=g, features=list(features.get(g, ()))) for g in groups],
    )
    unknown = set(features) - set(groups)
    if unknown:
        raise OfsError(f"ofs: retrieve {entity}: features given for groups not requested: {sorted(unknown)}")
    return req, flat


def _persist_request(group: str, rows: Sequence[Mapping[str, Any]], key: str, stamp: _dt.datetime) -> service_pb2.PersistRequest:
    """The Persist request of :meth:`Client.persist`: rows without
    event_time take stamp."""
    if stamp.tzinfo is None:
        raise OfsError(f"ofs: persist {group}: stamp_time must be timezone-aware")
    events = []
    for i, r in enumerate(rows):
        try:
            ev = event_pb2.FeatureEvent(feature_group=group)
            for k, v in r.get("keys", {}).items():
                ev.keys[k].CopyFrom(to_value(v))
            for k, v in r.get("values", {}).items():
                ev.values[k].CopyFrom(to_value(v))
            at = r.get("event_time")
            if at is None:
                at = stamp
            if at is not None:
                if isinstance(at, _dt.datetime) and at.tzinfo is None:
                    raise ValueError("event_time must be timezone-aware")
                ev.event_time.FromDatetime(pd.Timestamp(at).to_pydatetime())
        except (TypeError, ValueError) as e:
            raise OfsError(f"ofs: persist {group} row {i}: {e}") from e
        events.append(ev)
    return service_pb2.PersistRequest(feature_group=group, rows=events, idempotency_key=key)


def _setup(c: Any, addr: str, token: str | None, timeout: float, max_attempts: int, retry_base: float, retry_max: float, channel: Any) -> None:
    """Set the fields that Client and ofs.aio.Client share."""
    c.addr = addr
    c.timeout = timeout
    c.max_attempts = max_attempts
    c.retry_base = retry_base
    c.retry_max = retry_max
    c._metadata = (("authorization", f"Bearer {token}"),) if token else None
    c._channel = channel
    c._features = service_pb2_grpc.FeatureServiceStub(channel)
    c._registry = registry_pb2_grpc.RegistryServiceStub(channel)
    c._key_columns = {}
    c._columns = {}  # request shape -> (registry revision, columns): see _ask_columns


# The request shapes whose columns a client keeps; past the bound they are
# all dropped (an application asks a handful of shapes, one per model).
_MAX_SHAPES = 1024


def _shape(req: service_pb2.RetrieveRequest) -> tuple[Any, ...]:
    """The shape of a request: its entity, groups and features."""
    return (req.entity, *((g.feature_group, tuple(g.features)) for g in req.groups))


def _ask_columns(c: Any, req: service_pb2.RetrieveRequest) -> tuple[int, list[service_pb2.Column]] | None:
    """Set req.columns_revision to that of the columns c keeps for req's
    shape, if any, and return them: the server then leaves them out while
    it answers at that revision."""
    known = c._columns.get(_shape(req))
    if known is not None:
        req.columns_revision = known[0]
    return known


def _keep_columns(
    c: Any, req: service_pb2.RetrieveRequest, resp: service_pb2.RetrieveResponse, known: tuple[int, list[service_pb2.Column]] | None
) -> list[service_pb2.Column]:
    """The columns of resp: its own (kept for req's shape), or the kept ones
    when the answer left them out for the revision they were kept at."""
    if known is not None and not resp.columns and resp.registry_revision == known[0]:
        return known[1]
    cols = list(resp.columns)
    if len(c._columns) >= _MAX_SHAPES:
        c._columns.clear()
    c._columns[_shape(req)] = (resp.registry_revision, cols)
    return cols


def _channel(module: Any, addr: str, credentials: grpc.ChannelCredentials | None) -> Any:
    """A channel of ``module`` (grpc, or grpc.aio) to addr: TLS with
    credentials, else plain text; round robin over every address the name
    resolves to (a headless Service: dns:///ofs-headless.features.svc:7070)."""
    options = [("grpc.lb_policy_name", "round_robin")]
    if credentials is not None:
        return module.secure_channel(addr, credentials, options=options)
    return module.insecure_channel(addr, options=options)


def _error(what: str, e: grpc.RpcError) -> OfsError:
    """The OfsError of a failed call."""
    code = e.code() if hasattr(e, "code") else None
    details = e.details() if hasattr(e, "details") else str(e)
    return OfsError(f"ofs: {what}: {code.name if code else 'error'}: {details}", code)
