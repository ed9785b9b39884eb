"""The memory verdict a retry gives on a killed try: the kernel's OOM kill count at the try's start against now."""

from __future__ import annotations

import sys

import pytest

from include.oom_evidence import KernelMark, memory_evidence


def kernel(tmp_path, boot: str, oom_kills: int | None):
    (tmp_path / "boot_id").write_text(boot + "\n")
    lines = ["nr_free_pages 1234", "pgfault 99"] + ([f"oom_kill {oom_kills}"] if oom_kills is not None else [])
    (tmp_path / "vmstat").write_text("\n".join(lines) + "\n")
    return KernelMark.now(tmp_path / "vmstat", tmp_path / "boot_id")


def test_no_oom_kill_since_the_start_says_memory_was_not_the_cause(tmp_path):
    start = kernel(tmp_path, "boot-a", 3)
    assert start == KernelMark("boot-a", 3)
    verdict = memory_evidence(KernelMark.from_tags(start.to_tags()), kernel(tmp_path, "boot-a", 3))
    assert verdict.startswith("not for lack of memory") and "oom_kill stayed at 3" in verdict, verdict


def test_an_oom_kill_since_the_start_names_memory(tmp_path):
    start = kernel(tmp_path, "boot-a", 3)
    verdict = memory_evidence(start, kernel(tmp_path, "boot-a", 5))
    assert verdict.startswith("possibly for lack of memory") and "killed 2 process(es)" in verdict and "3 -> 5" in verdict, verdict


def test_another_kernel_or_no_counter_is_unknown_not_a_guess(tmp_path):
    start = kernel(tmp_path, "boot-a", 3)
    assert memory_evidence(start, kernel(tmp_path, "boot-b", 3)).startswith("whether memory ran out is unknown: this try runs on another kernel")
    assert memory_evidence(None, kernel(tmp_path, "boot-a", 3)).startswith("whether memory ran out is unknown: the try recorded no")
    no_counter = kernel(tmp_path, "boot-a", None)  # a kernel older than 4.13
    assert no_counter.oom_kills is None and KernelMark.from_tags(no_counter.to_tags()) is None
    assert "unknown" in memory_evidence(start, no_counter)


@pytest.mark.skipif(sys.platform != "linux", reason="/proc/vmstat and the boot id are Linux's")
def test_this_machine_has_a_counter():
    mark = KernelMark.now()
    assert mark.boot_id and isinstance(mark.oom_kills, int), mark
