"""Entity keys: canonical text and the features-topic message key."""

from __future__ import annotations

import numbers
from typing import Any


def _escape(part: str) -> str:
    # '%' first, so that the '%' of "%2F" is not escaped again.
    return part.replace("%", "%25").replace("/", "%2F")


def feature_key(entity: str, group: str, *values: str) -> str:
    """Return the Kafka message key of a feature event.

    The key is ``<entity>/<group>/<value 1>/.../<value n>`` with the key values
    in the entity's key-column order and canonical text; in every part ``%``
    is written ``%25`` and ``/`` is written ``%2F``. It equals Go's
    ``topics.FeatureKey``: ``feature_key("user_item", "g", "5", "a/b%")`` is
    ``"user_item/g/5/a%2Fb%25"``.
    """
    return "/".join(_escape(p) for p in (entity, group, *values))


def key_text(v: Any) -> str:
    """Return a key value in canonical text: integers in decimal, strings as is.

    Raises TypeError for a value that cannot be a key (bools, non-integral
    floats, anything else).
    """
    if isinstance(v, str):
        return v
    if isinstance(v, bool) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") == "b"):
        raise TypeError(f"a bool ({v!r}) is not a key value")
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real) and float(v).is_integer():
        return str(int(v))
    raise TypeError(f"{type(v).__name__} {v!r} is not a key value (want an integer or a string)")
