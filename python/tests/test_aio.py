"""The asyncio client against the running installation (see conftest.py)."""

from __future__ import annotations

import asyncio
import socket

import grpc
import pytest

import ofs
import ofs.aio
from conftest import Installation


def test_async_persist_then_retrieve_concurrently(ofs_install: Installation) -> None:
    async def main() -> None:
        async with ofs.aio.Client(ofs_install.addr, timeout=30) as c:
            rows = [{"keys": {"user_id": 7000 + i}, "values": {"clicks_1h": i, "ctr_1h": i / 100}} for i in range(20)]
            assert await c.persist("user_activity", rows) == 20
            # Twenty reads at once on one client, each of its own key.
            results = await asyncio.gather(*(c.retrieve("user", [7000 + i, 9_999_999], "user_activity") for i in range(20)))
            for i, res in enumerate(results):
                assert res.found("user_activity").tolist() == [True, False]
                df = res.to_pandas()
                assert df["user_id"].tolist() == [7000 + i, 9_999_999]
                assert df["clicks_1h"].tolist() == [i, 0]
                assert df["ctr_1h"].tolist() == pytest.approx([i / 100, 0.01])
            group = await c.feature_group("user_activity")
            assert group.name == "user_activity"

    asyncio.run(main())


def test_async_errors(ofs_install: Installation) -> None:
    async def main() -> None:
        async with ofs.aio.Client(ofs_install.addr, timeout=30) as c:
            with pytest.raises(ofs.OfsError) as e:
                await c.retrieve("user", [1], "user_activity", features={"user_activity": ["no_such_feature"]})
            assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
            with pytest.raises(ofs.OfsError, match="has 2 values; user has 1 key column"):
                await c.retrieve("user", [(1, 2)], "user_activity")

    asyncio.run(main())


def test_async_unavailable_is_retried_within_the_deadline() -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def main() -> None:
        async with ofs.aio.Client(f"127.0.0.1:{port}", timeout=1.0, max_attempts=4, retry_base=0.05) as c:
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(ofs.OfsError) as e:
                await c.entity("user")
            assert e.value.code == grpc.StatusCode.UNAVAILABLE
            assert loop.time() - start < 3.0

    asyncio.run(main())


def test_async_persist_unknown_then_resolved(ofs_install: Installation) -> None:
    async def main() -> None:
        rows = [{"keys": {"user_id": 8802}, "values": {"clicks_1h": 5}}]
        async with ofs.aio.Client(ofs_install.addr, timeout=0.001) as c:
            with pytest.raises(ofs.OfsPersistError) as e:
                await c.persist("user_activity", rows)
            assert e.value.outcome == "unknown"
        async with ofs.aio.Client(ofs_install.addr, timeout=30) as c:
            n = await c.persist("user_activity", rows, idempotency_key=e.value.idempotency_key, stamp_time=e.value.stamp_time)
            assert n == 1
            res = await c.retrieve("user", [8802], "user_activity")
            assert res.to_pandas()["clicks_1h"].tolist() == [5]

    asyncio.run(main())
