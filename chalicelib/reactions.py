"""What an ECS task event does, in one table: each reaction is a function of the parsed
TaskEvent (chalicelib.task_events) and the Runtime (clients, registry, settings) that
returns what it did ("" for an event it has nothing to do with). The OnEcsTaskStateChange
handler parses the event once and runs them all, in the table's order.

A failing reaction does not stop the others: each of them runs, each failure is logged
with the event's identity and counted (TaskEventReactionsFailed), and then ReactionsFailed
is raised so that Lambda retries the event (an asynchronous invocation, as EventBridge
makes: two retries by default, then the failure is in the logs and the metric). A retry
runs every reaction again, which is safe: ECS delivers each event at least once anyway,
so every reaction already ignores a duplicate. Swallowing the failure instead would lose
the event for good: a scheduler address never published leaves its create waiting for
ten minutes and failing for a reason nobody sees.

Adding a reaction: its module (a `react(rt, event) -> str`) and one row here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib import crashes, discovery, idle, notebook, workers
from chalicelib.core.observability import count, logger
from chalicelib.core.runtime import Runtime
from chalicelib.task_events import TaskEvent


@dataclass(frozen=True)
class Reaction:
    name: str
    run: Callable[[Runtime, TaskEvent], str]


# The order is the answer's (discovery's outcome first); no reaction depends on another's.
REACTIONS: tuple[Reaction, ...] = (
    Reaction("discovery", discovery.react),  # the scheduler's address
    Reaction("notebook", notebook.react),  # the notebook's URL and state
    Reaction("idle", idle.react),  # an idle scheduler's exit destroys its cluster
    Reaction("crashes", crashes.react),  # a task that ended on its own, on the record
    Reaction("workers", workers.react),  # the workers running, their count and cost
)


class ReactionsFailed(ExceptionGroup[Exception]):
    """One or more reactions to a task event raised; the others ran. Raised so that
    Lambda retries the event."""


def react(rt: Runtime, event: TaskEvent) -> str:
    """Runs every reaction of REACTIONS on `event`; returns what they did. Raises
    ReactionsFailed, after all of them ran, when any raised."""
    done: list[str] = []
    failed: dict[str, Exception] = {}
    for reaction in REACTIONS:
        try:
            outcome = reaction.run(rt, event)
        except Exception as exc:  # any failure: the other reactions still run
            logger.exception("task event reaction failed", extra={
                "reaction": reaction.name, "error": type(exc).__name__, **event.identity()})
            count("TaskEventReactionsFailed", reaction=reaction.name)
            failed[reaction.name] = exc
            continue
        if outcome:
            done.append(outcome)
    if failed:
        raise ReactionsFailed(f"task event {event.task_id} ({event.role} {event.status}, "
                              f"cluster {event.cluster}): {', '.join(failed)} failed",
                              list(failed.values()))
    return "; ".join(done) or f"ignored: {event.role} {event.status}"
