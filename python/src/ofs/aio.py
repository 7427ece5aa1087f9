"""The asyncio client of ofs, for services that serve models from an event
loop (FastAPI, aiohttp, ...): the calls of :class:`ofs.Client`, awaitable,
on a ``grpc.aio`` channel, so that a Retrieve never blocks the loop.

    async with ofs.aio.Client("ofs:7070", token=token) as c:
        res = await c.retrieve("user", [42, 43], ["user_profile"])
        x = res.matrix()                      # numpy, as with ofs.Client

Results, errors and retries are those of :class:`ofs.Client`: a
:class:`ofs.RetrieveResult`, :class:`ofs.OfsError`, the same retries (what
the server marks retryable, each attempt its share of the deadline, full-jitter exponential backoff) within the
deadline. One client serves any number of concurrent calls; create it inside
the event loop that uses it.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import grpc.aio

from ofs._client import (
    OfsError,
    OfsPersistError,
    RetrieveResult,
    _ask_columns,
    _channel,
    _error,
    _keep_columns,
    _persist_request,
    _retrieve_request,
    _setup,
)
from ofs._proto.ofs.registry.v1 import registry_pb2
from ofs._retry import Attempts, new_key, now, persist_error

__all__ = ["Client", "OfsError", "OfsPersistError"]


class Client:
    """An asyncio connection to an ofs server: see :class:`ofs.Client` for
    the arguments, which are the same."""

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
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        _setup(self, addr, token, timeout, max_attempts, retry_base, retry_max, channel or _channel(grpc.aio, addr, credentials))
        self._key_columns: dict[str, list[registry_pb2.KeyColumn]]

    async def close(self) -> None:
        """Close the connection; calls in flight are cancelled."""
        await self._channel.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, what: str, method: Any, request: Any) -> Any:
        return (await self._attempts(what, method, request, self._new_attempts()))[0]

    def _new_attempts(self) -> Attempts:
        return Attempts(self.timeout, self.max_attempts, self.retry_base, self.retry_max)

    async def _attempts(self, what: str, method: Any, request: Any, a: Attempts) -> tuple[Any, grpc.RpcError | None]:
        while True:
            try:
                return await method(request, timeout=a.timeout(), metadata=self._metadata), None
            except grpc.aio.AioRpcError as e:
                wait = a.retry(e)
                if wait is not None:
                    await asyncio.sleep(wait)
                    continue
                if not what:
                    return None, e
                raise _error(what, e) from e

    async def entity(self, name: str) -> registry_pb2.Entity:
        """Return an entity of the registry, with its key columns."""
        resp = await self._call(f"entity {name}", self._registry.GetEntity, registry_pb2.GetEntityRequest(name=name))
        return resp.entity

    async def feature_group(self, name: str) -> registry_pb2.FeatureGroup:
        """Return a feature group with every version; the last is active."""
        req = registry_pb2.GetFeatureGroupRequest(name=name)
        return (await self._call(f"feature group {name}", self._registry.GetFeatureGroup, req)).feature_group

    async def _keys_of(self, entity: str) -> list[registry_pb2.KeyColumn]:
        kc = self._key_columns.get(entity)
        if kc is None:  # key columns never change: asked once per entity
            kc = self._key_columns[entity] = list((await self.entity(entity)).key_columns)
        return kc

    async def retrieve(
        self,
        entity: str,
        keys: Sequence[Any],
        groups: Sequence[str] | str,
        features: Mapping[str, Sequence[str]] | None = None,
    ) -> RetrieveResult:
        """:meth:`ofs.Client.retrieve`, awaitable."""
        if isinstance(groups, str):
            groups = [groups]
        kcols = await self._keys_of(entity)
        req, flat = _retrieve_request(entity, keys, groups, features, kcols)
        known = _ask_columns(self, req)
        resp = await self._call(f"retrieve {entity}", self._features.Retrieve, req)
        return RetrieveResult(resp, groups, kcols, flat, _keep_columns(self, req, resp, known))

    async def persist(
        self,
        group: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
        stamp_time: _dt.datetime | None = None,
    ) -> int:
        """:meth:`ofs.Client.persist`, awaitable."""
        key, stamp = idempotency_key or new_key(), stamp_time or now()
        a = self._new_attempts()
        resp, err = await self._attempts("", self._features.Persist, _persist_request(group, rows, key, stamp), a)
        if err is not None:
            raise persist_error(OfsPersistError, f"persist {group}", err, a, key, stamp) from err
        return resp.rows
