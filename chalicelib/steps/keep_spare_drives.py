"""Beside the scheduler's start, off the critical path: the stage's spare drives made up
again (a create may just have taken one). How spares are made, taken and released is in
spare_drives.py."""

from __future__ import annotations

from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall, StepResult, spare_drives


def keep(rt: Runtime, call: StepCall) -> StepResult:
    return spare_drives.keep(rt)
