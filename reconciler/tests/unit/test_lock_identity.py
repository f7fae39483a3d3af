"""Who holds the apply lock: the container a process runs in, read from /proc/self/mountinfo
(Docker bind-mounts /etc/hostname from the container's own directory)."""

from __future__ import annotations

from reconciler.providers.docker.lock import own_container_id, pid_namespace

CONTAINER = "4f0c1b2d" * 8
IN_A_CONTAINER = (
    "612 590 0:52 / / rw,relatime master:234 - overlay overlay rw,lowerdir=/var/lib/docker/x\n"
    f"640 612 254:1 /var/lib/docker/containers/{CONTAINER}/hostname /etc/hostname "
    "rw,relatime - ext4 /dev/vda rw\n"
)
ON_A_HOST = "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"


def test_the_container_is_found_from_its_hostname_mount() -> None:
    assert own_container_id(IN_A_CONTAINER) == CONTAINER


def test_a_host_process_has_no_container() -> None:
    assert own_container_id(ON_A_HOST) is None


def test_the_pid_namespace_is_readable_here() -> None:
    assert pid_namespace().startswith("pid:[")
