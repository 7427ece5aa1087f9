"""Python values to ofs.feature.v1.Value messages."""

from __future__ import annotations

from typing import Any

import numpy as np

from ofs._proto.ofs.feature.v1 import event_pb2

_INT64_MAX = 2**63 - 1


def to_value(v: Any) -> event_pb2.Value:
    """Return the Value of a Python or numpy value.

    bool → bool_value; an integer → int64_value (uint64_value above the int64
    range); numpy float32 → float_value; another float → double_value; str →
    string_value; a list, tuple or 1-D numpy array → the matching list (a
    float32 array → float_list, other floats → double_list).
    """
    if isinstance(v, (bool, np.bool_)):
        return event_pb2.Value(bool_value=bool(v))
    if isinstance(v, (int, np.integer)):
        i = int(v)
        if i > _INT64_MAX:
            return event_pb2.Value(uint64_value=i)
        return event_pb2.Value(int64_value=i)
    if isinstance(v, np.float32):
        return event_pb2.Value(float_value=float(v))
    if isinstance(v, (float, np.floating)):
        return event_pb2.Value(double_value=float(v))
    if isinstance(v, str):
        return event_pb2.Value(string_value=v)
    if isinstance(v, np.ndarray):
        if v.ndim != 1:
            raise ValueError(f"a vector must be 1-dimensional, not of shape {v.shape}")
        k = v.dtype.kind
        if k == "b":
            return event_pb2.Value(bool_list=event_pb2.BoolList(values=v.tolist()))
        if k == "i":
            return event_pb2.Value(int64_list=event_pb2.Int64List(values=v.tolist()))
        if k == "u":
            return event_pb2.Value(uint64_list=event_pb2.Uint64List(values=v.tolist()))
        if k == "f":
            if v.dtype.itemsize <= 4:
                return event_pb2.Value(float_list=event_pb2.FloatList(values=v.tolist()))
            return event_pb2.Value(double_list=event_pb2.DoubleList(values=v.tolist()))
        if k in "OU":
            return to_value(v.tolist())
        raise TypeError(f"no vector of numpy {v.dtype}")
    if isinstance(v, (list, tuple)):
        if all(isinstance(x, (bool, np.bool_)) for x in v):
            return event_pb2.Value(bool_list=event_pb2.BoolList(values=[bool(x) for x in v]))
        if all(isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)) for x in v):
            ints = [int(x) for x in v]
            if any(x > _INT64_MAX for x in ints):
                return event_pb2.Value(uint64_list=event_pb2.Uint64List(values=ints))
            return event_pb2.Value(int64_list=event_pb2.Int64List(values=ints))
        if all(isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_)) for x in v):
            return event_pb2.Value(double_list=event_pb2.DoubleList(values=[float(x) for x in v]))
        if all(isinstance(x, str) for x in v):
            return event_pb2.Value(string_list=event_pb2.StringList(values=list(v)))
        raise TypeError("a vector's elements must all be bools, numbers or strings")
    raise TypeError(f"{type(v).__name__} is not a feature value")
