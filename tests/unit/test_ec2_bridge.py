"""EC2 clusters run their tasks in bridge mode: published on their instance (the
scheduler's and notebook's ports as they are, the workers' on ports ECS picks), and a
worker advertises its instance's address and host port, read from the ECS container
metadata file."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from chalicelib.core import naming
from chalicelib.core.launch_types import user_data
from chalicelib.steps.register_task_definitions import port_mappings
from tests.support.clusters import spec
from tests.support.modules import image_module


@pytest.fixture
def entrypoint() -> ModuleType:
    return image_module("entrypoint")


def test_ec2_is_bridge_and_fargate_awsvpc() -> None:
    assert spec("demo", launch_type="EC2").network_mode == "bridge"
    assert spec("demo").network_mode == "awsvpc"
    assert spec("demo", launch_type="FARGATE_SPOT").network_mode == "awsvpc"


def test_bridge_ports_keep_the_opened_ones_and_let_ecs_pick_the_workers() -> None:
    assert port_mappings("bridge", "scheduler") == [
        {"containerPort": 8786, "hostPort": 8786, "protocol": "tcp"},
        {"containerPort": 8787, "hostPort": 8787, "protocol": "tcp"}]
    assert port_mappings("bridge", "notebook") == [
        {"containerPort": 8888, "hostPort": 8888, "protocol": "tcp"}]
    assert port_mappings("bridge", "worker") == [
        {"containerPort": naming.WORKER_PORT, "hostPort": 0, "protocol": "tcp"}]
    assert port_mappings("awsvpc", "worker") == []
    assert port_mappings("awsvpc", "scheduler") == [
        {"containerPort": 8786, "protocol": "tcp"}, {"containerPort": 8787, "protocol": "tcp"}]


def test_the_instances_agent_writes_the_container_metadata_file() -> None:
    assert "ECS_ENABLE_CONTAINER_METADATA=true" in user_data("daskyard-dev-demo", "fs.efs")


def metadata(tmp_path: Path, **fields: object) -> Path:
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps({
        "Cluster": "daskyard-dev-demo", "MetadataFileStatus": "READY",
        "HostPrivateIPv4Address": "10.0.1.23", "HostPublicIPv4Address": "3.4.5.6",
        "PortMappings": [{"ContainerPort": 8790, "HostPort": 49153, "BindIp": "0.0.0.0",
                          "Protocol": "tcp"}], **fields}))
    return path


def test_a_bridge_worker_advertises_its_instances_address_and_host_port(
        entrypoint: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert entrypoint.WORKER_PORT == naming.WORKER_PORT  # the image and the steps agree
    monkeypatch.setenv("ECS_CONTAINER_METADATA_FILE", str(metadata(tmp_path)))
    assert entrypoint.bridge_worker_options() == [
        "--listen-address", "tls://0.0.0.0:8790", "--contact-address", "tls://10.0.1.23:49153",
        "--no-nanny"]


def test_without_a_mapped_host_port_the_worker_keeps_its_own_address(
        entrypoint: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ECS_CONTAINER_METADATA_FILE", raising=False)
    assert entrypoint.bridge_worker_options() == []  # Fargate and local mode: no file
    monkeypatch.setenv("ECS_CONTAINER_METADATA_FILE", str(metadata(tmp_path, PortMappings=[])))
    assert entrypoint.bridge_worker_options() == []  # awsvpc on EC2


def test_a_metadata_file_never_ready_stops_the_worker(
        entrypoint: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = metadata(tmp_path, MetadataFileStatus="")
    monkeypatch.setenv("ECS_CONTAINER_METADATA_FILE", str(path))
    with pytest.raises(SystemExit) as exited:
        entrypoint.bridge_worker_options(wait_seconds=0)
    assert exited.value.code == entrypoint.EXIT_NO_METADATA
