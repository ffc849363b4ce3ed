"""The resource-kind table (chalicelib/core/resources.py) agrees with what it names: the
step table's states, the record's Resources, the stage's names. Pure: no emulator
(tests/functional/test_resource_kinds.py makes, finds and destroys each kind)."""

from __future__ import annotations

import pytest

from chalicelib.core import resources
from chalicelib.core.launch_types import LAUNCH_TYPES
from chalicelib.core.models import Resources
from chalicelib.core.naming import Names
from chalicelib.steps.table import step_of

# What the record keeps that is no cluster's resource: the account's shared images.
NOT_A_KIND = {"images", "image_build"}


def test_kinds_are_named_once() -> None:
    assert len(resources.BY_NAME) == len(resources.KINDS)


@pytest.mark.parametrize("kind", resources.KINDS, ids=[k.name for k in resources.KINDS])
def test_each_row_names_real_states_record_fields_and_launch_types(
        kind: resources.Kind) -> None:
    for state in (*kind.creates, *kind.deletes):
        step_of(state)  # raises for a state the step table does not have
    assert kind.creates or kind.by, "made by a step or said by whom"
    assert kind.deletes, "every kind goes with the destroy"
    assert not kind.record or kind.record in Resources.model_fields
    assert kind.launch_types is None or kind.launch_types <= set(LAUNCH_TYPES)
    if kind.derived:  # another stage's of the same cluster name is another name
        assert kind.derived(Names("dev", "demo"), "us-east-1") != kind.derived(
            Names("prod", "demo"), "us-east-1")


def test_every_resource_the_record_keeps_is_a_kind() -> None:
    recorded = {kind.record for kind in resources.KINDS if kind.record}
    assert recorded == set(Resources.model_fields) - NOT_A_KIND
