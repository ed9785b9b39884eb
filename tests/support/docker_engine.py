"""A private Docker engine for the docker tier, and the images it cannot pull.

DESIGN.md, "Docker on these machines": no engine runs here and no registry is reachable. As root
we start ``dockerd`` with its own data root, exec root, socket and pidfile under a temp dir (no
bridge, no iptables: containers use ``--network host``), import a Debian base image made with
debootstrap, and build the serving images from a wheelhouse made on the host.

The base image tarball and the wheelhouse are cached under ``CT_DOCKER_TEST_CACHE`` (default
/var/cache/ct-docker-test), keyed by what makes them, because they cost minutes and never change
for the same inputs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("CT_DOCKER_TEST_CACHE", "/var/cache/ct-docker-test"))
SUITE = "bookworm"
MIRROR = os.environ.get("CT_DEBIAN_MIRROR", "http://deb.debian.org/debian")
DEBOOTSTRAP = ["--variant=minbase", "--include=python3,python3-venv,python3-pip,ca-certificates", SUITE]
BASE_IMAGE = "ct-test-base:bookworm"


def why_no_engine() -> str | None:
    """None when this machine can run a private engine; otherwise the reason, for a loud skip."""
    if sys.platform != "linux":
        return f"a private dockerd needs Linux, this is {sys.platform}"
    if os.geteuid() != 0:
        return "starting dockerd needs root (run the tier as root, as .ci/run does)"
    missing = [tool for tool in ("dockerd", "debootstrap") if shutil.which(tool) is None]
    if missing:
        return f"{missing} not installed: apt-get install -y docker.io debootstrap (.ci/run does)"
    return None


@dataclass
class Engine:
    process: subprocess.Popen
    root: Path
    socket: str

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def log_tail(self, lines: int = 30) -> str:
        log = self.root / "dockerd.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def start_engine(timeout_s: float = 60) -> Engine:
    import docker

    root = Path(tempfile.mkdtemp(prefix="ct-dockerd-"))
    sock = root / "docker.sock"
    # exec-root holds the containerd socket, whose path must stay short (unix socket limit).
    args = [
        "dockerd", "--storage-driver=overlay2", "--iptables=false", "--bridge=none",
        f"--data-root={root / 'data'}", f"--exec-root={root / 'exec'}", "-H", f"unix://{sock}", "-p", str(root / "dockerd.pid"),
    ]
    log = open(root / "dockerd.log", "wb")  # noqa: SIM115 - dockerd writes to it for its whole life
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    engine = Engine(process, root, str(sock))
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            stop_engine(engine)
            raise RuntimeError(f"dockerd exited with {process.returncode}:\n{engine.log_tail()}")
        if sock.exists():
            try:
                docker.DockerClient(base_url=engine.url, version="auto", timeout=10).ping()
                return engine
            except Exception:  # noqa: BLE001, S110 - not answering yet: try again until the deadline
                pass
        if time.monotonic() > deadline:
            stop_engine(engine)
            raise RuntimeError(f"dockerd did not answer within {timeout_s} s:\n{engine.log_tail()}")
        time.sleep(0.2)


def stop_engine(engine: Engine) -> None:
    """Remove every container, stop dockerd by its PID, then delete its folders."""
    import docker

    try:
        client = docker.DockerClient(base_url=engine.url, version="auto", timeout=30)
        for container in client.containers.list(all=True):
            container.remove(force=True)
    except Exception:  # noqa: BLE001, S110 - best effort: the engine is stopped and its folders deleted below anyway
        pass
    if engine.process.poll() is None:
        engine.process.send_signal(signal.SIGTERM)
        try:
            engine.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            engine.process.kill()
            engine.process.wait(timeout=10)
    # dockerd leaves its network namespace mounted in the exec root (and a killed one its overlay
    # mounts in the data root): unmount whatever is left under the root, then delete it.
    for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
        mountpoint = line.split()[1]
        if mountpoint.startswith(str(engine.root) + "/"):
            subprocess.run(["umount", "-l", mountpoint], capture_output=True, check=False)
    shutil.rmtree(engine.root, ignore_errors=True)
    if engine.root.exists():
        raise RuntimeError(f"could not delete the engine's folder {engine.root}: something is still mounted or busy")


def _key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def base_image_tarball() -> Path:
    """A debootstrap-made Debian root filesystem as a tarball, made once per set of inputs (~1 min)."""
    tarball = CACHE / f"base-{SUITE}-{_key(MIRROR, *DEBOOTSTRAP)}.tar"
    if tarball.exists():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    rootfs = Path(tempfile.mkdtemp(prefix="ct-rootfs-"))
    try:
        done = subprocess.run(["debootstrap", *DEBOOTSTRAP[:-1], SUITE, str(rootfs), MIRROR], capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"debootstrap failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True, timeout=300)
        os.replace(partial, tarball)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    return tarball


def import_base_image(client) -> str:
    repository, tag = BASE_IMAGE.split(":")
    client.api.import_image_from_file(str(base_image_tarball()), repository=repository, tag=tag)
    client.images.get(BASE_IMAGE)  # raises if the import did not produce it
    return BASE_IMAGE


def wheelhouse() -> Path:
    """The serving image's wheels, made on the host with pip (containers cannot reach the index)."""
    from include.docker_deploy.images import build_wheelhouse, serving_requirements

    dest = CACHE / f"wheelhouse-{_key(serving_requirements(), sys.version)}"
    if not (dest / ".complete").exists():
        shutil.rmtree(dest, ignore_errors=True)
        build_wheelhouse(dest)
        (dest / ".complete").touch()
    return dest


def load_cached_image(client, tag: str) -> bool:
    """Load ``tag`` from the cache if an earlier run saved it (saves the runtime build, minutes)."""
    tarball = CACHE / f"image-{tag.replace(':', '-').replace('/', '_')}.tar"
    if not tarball.exists():
        return False
    with open(tarball, "rb") as data:
        client.images.load(data)
    return True


def save_image_to_cache(client, tag: str) -> None:
    tarball = CACHE / f"image-{tag.replace(':', '-').replace('/', '_')}.tar"
    if tarball.exists():
        return
    partial = tarball.with_suffix(".partial")
    with open(partial, "wb") as out:
        out.writelines(client.images.get(tag).save(named=True))
    os.replace(partial, tarball)
