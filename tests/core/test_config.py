"""calolab.core.config: the project's validators for tables and values."""

from __future__ import annotations

import pytest

from calolab.core.errors import ConfigError


def test_check_keys_names_the_first_unknown_key_and_the_allowed_ones():
    from calolab.core.config import check_keys
    from calolab.core.errors import GeometryError

    table = {"a": 1, "b": 2}
    assert check_keys("f.toml [t]", table, {"a", "b", "c"}) is table
    with pytest.raises(ConfigError, match=r"f.toml \[t\]: unknown key 'x'; allowed keys: a, b$"):
        check_keys("f.toml [t]", {"z": 0, "x": 1, "a": 2}, ["b", "a"])
    with pytest.raises(GeometryError, match="detector must be a table, got 3"):
        check_keys("detector", 3, {"a"}, error=GeometryError)
