"""What the two clients share about retries and outcomes: the server's
ErrorInfo detail, the per-attempt share of the deadline, and the outcome of
a Persist that did not return OK."""

from __future__ import annotations

import datetime as _dt
import random
import time
from typing import Any

import grpc
from google.protobuf import any_pb2

from ofs._proto.ofs.feature.v1 import service_pb2

_DETAILS = "grpc-status-details-bin"
_INFO_TYPE = "ofs.feature.v1.ErrorInfo"
# Codes of errors refused before the server's handler ran: nothing applied.
_REFUSED = {
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNIMPLEMENTED,
}


def _varint(b: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        if c < 0x80:
            return n, i
        shift += 7


def error_info(e: grpc.RpcError) -> service_pb2.ErrorInfo | None:
    """The ErrorInfo detail of a failed call (google.rpc.Status field 3,
    its details, read by hand: no googleapis dependency), or None."""
    md = e.trailing_metadata() if hasattr(e, "trailing_metadata") else None
    for k, v in md or ():
        if k != _DETAILS:
            continue
        try:
            i = 0
            while i < len(v):
                tag, i = _varint(v, i)
                wire = tag & 7
                if wire == 0:
                    _, i = _varint(v, i)
                elif wire == 2:
                    n, i = _varint(v, i)
                    body, i = v[i : i + n], i + n
                    if tag >> 3 == 3:
                        a = any_pb2.Any.FromString(body)
                        if a.type_url.endswith("/" + _INFO_TYPE):
                            return service_pb2.ErrorInfo.FromString(a.value)
                else:
                    return None
        except (IndexError, ValueError):
            return None
    return None


def retryable(e: grpc.RpcError) -> bool:
    """The server says so; or the error is not the handler's and is the
    connection's (UNAVAILABLE) or an attempt's deadline."""
    info = error_info(e)
    if info is not None:
        return info.retryable
    return e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def not_applied(e: grpc.RpcError) -> bool:
    """Whether a Persist attempt's error says nothing was written."""
    info = error_info(e)
    if info is not None:
        return info.outcome == service_pb2.WRITE_OUTCOME_NOT_APPLIED
    return e.code() in _REFUSED


class Attempts:
    """The attempts of one call: each gets an equal share of what is left
    of the deadline; after a failure, ``retry`` says how long to wait before
    the next, or None to give up."""

    def __init__(self, timeout: float, max_attempts: int, base: float, most: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.max_attempts = max_attempts
        self.base, self.most = base, most
        self.attempt = 1
        self.maybe_applied = False  # for Persist: some attempt may have written

    def timeout(self) -> float:
        left = max(self.deadline - time.monotonic(), 0.0)
        return left / (self.max_attempts - self.attempt + 1)

    def retry(self, e: grpc.RpcError) -> float | None:
        if not not_applied(e):
            self.maybe_applied = True
        if self.attempt >= self.max_attempts or not retryable(e):
            return None
        wait = random.uniform(0, min(self.base * 2 ** (self.attempt - 1), self.most))
        if self.deadline - time.monotonic() <= wait:
            return None
        self.attempt += 1
        return wait


def new_key() -> str:
    """A random idempotency key."""
    return random.SystemRandom().getrandbits(128).to_bytes(16, "big").hex()


def now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def persist_error(base: Any, what: str, e: grpc.RpcError, attempts: Attempts, key: str, stamp: _dt.datetime) -> Any:
    """The OfsPersistError (base) of a Persist that did not return OK."""
    outcome = "unknown" if attempts.maybe_applied else "not_applied"
    code = e.code() if hasattr(e, "code") else None
    msg = f"ofs: {what} (idempotency key {key}, outcome {outcome}): {code.name if code else 'error'}: {e.details()}"
    return base(msg, code, outcome=outcome, idempotency_key=key, stamp_time=stamp)
