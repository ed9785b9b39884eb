"""Whether the kernel killed anything for lack of memory: the evidence for how a killed try ended.

Airflow's task supervisor logs "Likely out of memory error (OOM)" for every task process that ends
by SIGKILL, whoever sent it (an operator's ``kill -9``, a stopped container, the OOM killer). The
kernel counts its own OOM kills: ``oom_kill`` in /proc/vmstat, since boot, every cgroup included
(Linux >= 4.13). A try records that count when it starts; a later try on the same kernel (same boot
id) tells from the count whether the OOM killer fired in between. Reading two small files costs
microseconds; nothing here needs privileges (dmesg may).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VMSTAT = Path("/proc/vmstat")
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
BOOT_TAG, OOM_KILLS_TAG = "ct.boot_id", "ct.oom_kills_at_start"


@dataclass(frozen=True)
class KernelMark:
    """Which kernel a process ran on, and how many OOM kills it had counted then (None: unknown)."""

    boot_id: str
    oom_kills: int | None

    @classmethod
    def now(cls, vmstat: Path = VMSTAT, boot_id: Path = BOOT_ID) -> KernelMark:
        try:
            boot = boot_id.read_text().strip()
        except OSError:
            boot = ""
        try:
            counters = dict(line.split() for line in vmstat.read_text().splitlines() if line.count(" ") == 1)
            kills = int(counters["oom_kill"])
        except (OSError, KeyError, ValueError):  # not Linux, or a kernel older than 4.13
            kills = None
        return cls(boot, kills)

    def to_tags(self) -> dict[str, str]:
        return {BOOT_TAG: self.boot_id, OOM_KILLS_TAG: "" if self.oom_kills is None else str(self.oom_kills)}

    @classmethod
    def from_tags(cls, tags: dict) -> KernelMark | None:
        if not tags.get(BOOT_TAG) or not str(tags.get(OOM_KILLS_TAG, "")).isdigit():
            return None
        return cls(tags[BOOT_TAG], int(tags[OOM_KILLS_TAG]))


def memory_evidence(at_start: KernelMark | None, now: KernelMark) -> str:
    """One sentence: did the OOM killer fire between ``at_start`` and ``now``, or can nobody tell?"""
    if at_start is None or at_start.oom_kills is None:
        return "whether memory ran out is unknown: the try recorded no OOM kill count when it started"
    if now.oom_kills is None or not now.boot_id or now.boot_id != at_start.boot_id:
        return "whether memory ran out is unknown: this try runs on another kernel (machine or boot) than the killed one"
    if now.oom_kills == at_start.oom_kills:
        return (
            f"not for lack of memory: the kernel's OOM killer killed nothing on this machine since that try started "
            f"(/proc/vmstat oom_kill stayed at {now.oom_kills}), so a signal from another process (kill -9, a stopped "
            "container or worker) or a stopped machine ended it; Airflow's 'Likely out of memory error (OOM)' is its guess for any SIGKILL"
        )
    killed = now.oom_kills - at_start.oom_kills
    return (
        f"possibly for lack of memory: the kernel's OOM killer killed {killed} process(es) on this machine since that try started "
        f"(/proc/vmstat oom_kill {at_start.oom_kills} -> {now.oom_kills})"
    )
