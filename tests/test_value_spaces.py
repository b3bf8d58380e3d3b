"""Value spaces: the built-in names and the error for an unknown one."""

from __future__ import annotations

import pytest

from progressgym_env.errors import ConfigError, UnknownNameError
from progressgym_env.procedural import ProceduralHistory
from progressgym_env.value_spaces import CORPUS5, MORAL19, ValueSpace, get_value_space

UNKNOWN = "unknown value space 'moral91'; known: ['corpus5', 'moral19'] or 'generic<d>'"


def test_built_in_names() -> None:
    assert get_value_space("moral19") is MORAL19 and get_value_space("corpus5") is CORPUS5
    assert get_value_space("generic3") == ValueSpace.generic(3)


def test_an_unknown_name_is_a_package_error_that_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError) as caught:
        get_value_space("moral91")
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, ConfigError)
    assert str(caught.value) == UNKNOWN  # the message itself, not KeyError's quoted repr


def test_a_user_facing_path_shows_the_message_without_quotes() -> None:
    with pytest.raises(ConfigError) as caught:
        ProceduralHistory(value_space="moral91")
    assert str(caught.value) == UNKNOWN
