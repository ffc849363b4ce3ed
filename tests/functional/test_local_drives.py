"""EFS in local mode: a named drive is a folder shared by the clusters that name it and
outlives them, as the EFS file system does on AWS, each owner's clusters in the folder
of their access point's root below it; a cluster's own drive is a folder that goes with
the cluster (and, were local mode killed, with the next start's reap)."""

from __future__ import annotations

from chalicelib import lifecycle
from chalicelib.core.aws import Clients
from chalicelib.core.models import Status
from chalicelib.core.naming import Names
from chalicelib.core.runtime import Runtime
from daskyard.local.processes import Run
from daskyard.local.stack import LocalMode, wait_execution
from tests.support.callers import ALICE
from tests.support.clusters import destroy, spec, wait_status
from tests.support.waiting import eventually


def drives_of(stack: LocalMode, name: str, role: str = "workers") -> set[str]:
    assert stack.agent is not None
    return {str(t.drive) for t in stack.agent.running(f"daskyard-local-{name}-{role}")}


def test_a_named_drive_is_shared_and_outlives_its_clusters_an_own_one_goes(
        stack: LocalMode, rt: Runtime, clients: Clients) -> None:
    # Alice's clusters' access point root on the drive: her folder of it.
    shared = stack.root / "drives" / "team" / Names.drive_root(ALICE.id).lstrip("/")
    own = stack.root / "efs" / "solo"
    # "two" after "one": two creates making one new drive at once conflict on its mount
    # targets (EstablishSharedDrive, on AWS too); "solo" alongside.
    for batch in ((("one", "team"), ("solo", None)), (("two", "team"),)):
        made = [lifecycle.create_cluster(rt, spec(name, **({"drive": d} if d else {})),
                                         caller=ALICE) for name, d in batch]
        for record in made:
            wait_execution(clients, record.execution_arn)
            wait_status(rt, record.name, {Status.READY})
    for name, folder in (("one", shared), ("two", shared), ("solo", own)):
        assert eventually(lambda n=name: drives_of(stack, n), 30) == {str(folder)}, name
        assert drives_of(stack, name, "scheduler") == {"None"}  # it mounts no drive
    recorded = Run.read(stack.guard.path)
    assert recorded is not None and recorded.folders == [str(own)]  # reaped if killed
    (shared / "data.csv").write_text("a,b\n1,2\n")  # what cluster one wrote

    gone = [lifecycle.destroy_cluster(rt, name, caller=ALICE) for name in ("one", "solo")]
    for record in gone:
        wait_execution(clients, record.execution_arn)
        wait_status(rt, record.name, {Status.DELETED})
    assert (shared / "data.csv").read_text() == "a,b\n1,2\n"  # two still reads it
    eventually(lambda: not own.exists(), 30, what="the cluster's own folder removed")
    recorded = Run.read(stack.guard.path)
    assert recorded is not None and recorded.folders == []
    destroy(rt, stack, "two")
    wait_status(rt, "two", {Status.DELETED})
    assert (shared / "data.csv").exists()  # the drive outlives every cluster naming it
