"""Unit tests that need no services."""

import numpy as np
import pytest

from ofs import feature_key
from ofs._keys import key_text
from ofs._values import to_value


def test_feature_key_matches_go() -> None:
    # topics.FeatureKey("user_item", "g", "5", "a/b%") in Go.
    assert feature_key("user_item", "g", "5", "a/b%") == "user_item/g/5/a%2Fb%25"
    assert feature_key("user", "user_profile", "42") == "user/user_profile/42"
    assert feature_key("session", "clicks", "a/b", "7") == "session/clicks/a%2Fb/7"
    assert feature_key("e%/", "g") == "e%25%2F/g"
    assert feature_key("e", "g", "%2F") == "e/g/%252F"


def test_key_text() -> None:
    assert key_text(42) == "42"
    assert key_text(np.int64(-7)) == "-7"
    assert key_text(np.uint64(2**64 - 1)) == str(2**64 - 1)
    assert key_text("a/b") == "a/b"
    assert key_text(3.0) == "3"
    for bad in (True, 1.5, None, b"x"):
        with pytest.raises(TypeError):
            key_text(bad)


def test_to_value() -> None:
    assert to_value(True).WhichOneof("kind") == "bool_value"
    assert to_value(3).int64_value == 3
    assert to_value(2**64 - 1).uint64_value == 2**64 - 1
    assert to_value(np.float32(0.5)).float_value == 0.5
    assert to_value(0.25).double_value == 0.25
    assert list(to_value(np.arange(3, dtype=np.float32)).float_list.values) == [0, 1, 2]
    assert list(to_value([1, 2]).int64_list.values) == [1, 2]
    assert list(to_value(["a"]).string_list.values) == ["a"]
    with pytest.raises(TypeError):
        to_value(object())
