"""What AWS makes a user wait for, so that local mode can wait as long: the emulator
answers in milliseconds where AWS takes a minute, and nothing would show what happens
meanwhile (mount targets not yet available, tasks PENDING while their image is pulled).

A profile holds the delays AWS is known for, and a time scale (1/20 keeps tests short;
the state machines' Retry and Wait times are scaled with it, see LocalMode). The figures
are public ones, not measured here (no AWS account):

- Lambda cold start, 1 s: a Python function with boto3 initialises in a few hundred ms
  to over a second ("Operating Lambda: Performance optimization, Part 1", AWS Compute
  Blog, 2021); ours imports in about 0.5 s (docs/BENCHMARKS.md).
- EFS mount target, 90 s from CreateMountTarget to usable: AWS recommends waiting 90 s
  after creating one before mounting, for its DNS name to propagate (EFS User Guide,
  "Mounting on Amazon EC2 with a DNS name"); terraform-provider-aws#15278 saw some take
  over 10 minutes, so the state machine polls (about every 2.5 s) for 20 on average.
- Fargate task, 60 s from PENDING to RUNNING: a 413 MB image took 57 s on average to
  pull and start without SOCI ("Reduce AWS Fargate pull times with SOCI", elasticscale,
  2024); the ECS Developer Guide ("Fargate container image pull behavior") notes the
  whole image is pulled for every task, so this is paid per task, in parallel.
- EC2 instance joining the cluster, 120 s: an ECS-optimised AMI boots and registers its
  agent in one to three minutes; capacity-provider managed scaling adds its own minute.
- CodeBuild build of images/, 300 s: provisioning (about 30 s) plus a Python image with
  dask and Jupyter built and pushed.

Acted out locally: the cold starts (the emulator's Lambda router), the mount targets
(the emulator's EFS) and the task starts (the ECS agent). Not acted out: the EC2 join
(local mode runs EC2 tasks as it runs Fargate's) and the build (local mode pushes the
images at deploy); the build's figure checks the state machine's patience only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Latency:
    """Seconds AWS takes, at full scale; `scale` multiplies every delay."""

    name: str = "none"
    lambda_cold_start: float = 0.0
    efs_mount_target: float = 0.0
    fargate_task_start: float = 0.0
    ec2_instance_join: float = 0.0
    image_build: float = 0.0
    scale: float = 1.0

    def of(self, what: str) -> float:
        """The delay for `what` (a field name), scaled."""
        return float(getattr(self, what)) * self.scale

    def wait(self, what: str) -> None:
        delay = self.of(what)
        if delay > 0:
            time.sleep(delay)

    def scaled(self, scale: float) -> Latency:
        return replace(self, scale=scale)

    @property
    def active(self) -> bool:
        return self.scale > 0 and any(self.of(f) for f in DELAYS)


DELAYS = ("lambda_cold_start", "efs_mount_target", "fargate_task_start", "ec2_instance_join",
          "image_build")
NONE = Latency()
AWS = Latency("aws", lambda_cold_start=1.0, efs_mount_target=90.0, fargate_task_start=60.0,
              ec2_instance_join=120.0, image_build=300.0)
PROFILES = {"none": NONE, "aws": AWS}


class UnknownProfile(ValueError):
    pass


def profile(name: str, scale: float = 1.0) -> Latency:
    """`none` or `aws`, at `scale` (0 < scale <= 1)."""
    if name not in PROFILES:
        raise UnknownProfile(f"latency profile {name!r}: one of {', '.join(PROFILES)}")
    if not 0 < scale <= 1:
        raise UnknownProfile(f"time scale {scale}: between 0 (exclusive) and 1")
    return PROFILES[name].scaled(scale)
