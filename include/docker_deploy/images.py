"""Serving images: the shared runtime, one immutable image per model version, and pruning.

The runtime image (Python, serving dependencies, core code) is tagged by a hash of everything
that goes into it, so it is built once per change of code, dependencies or base image. A model
image is ``FROM`` it plus the MLflow model folder: building it takes seconds, and an image that
already exists for ``<model>:<version>`` is reused, never rebuilt (a version is immutable).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from include.errors import DeployError

ROOT = Path(__file__).resolve().parents[2]
SERVING_DIR = ROOT / "deploy" / "serving"
RUNTIME_REPOSITORY = "ct-serving-runtime"
LABEL = "io.ct-platform"  # label prefix of everything this target builds or starts
# The lineage tags of a registered version that become image labels (include/training.py sets them).
LINEAGE_LABELS = {"run_id": "run-id", "data_md5": "data-md5", "git_commit": "git-commit"}


@dataclass(frozen=True)
class ImageSettings:
    base_image: str = "python:3.11-slim-bookworm"
    wheelhouse: Path | None = None  # wheels for an offline build; None: pip uses the package index


def serving_requirements(constraints: Path = ROOT / "constraints.txt") -> str:
    """deploy/serving/requirements.txt pinned to the lock: the image installs what the tests ran."""
    pins = {}
    for line in constraints.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name = line.split("==")[0].strip().lower()
            pins[name] = line.strip()
    wanted = [ln.strip() for ln in (SERVING_DIR / "requirements.txt").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    missing = [w for w in wanted if w.lower() not in pins]
    if missing:
        raise DeployError(f"{SERVING_DIR / 'requirements.txt'}: {missing} have no pin in {constraints}; add them to the lock")
    return "\n".join(pins[w.lower()] for w in wanted) + "\n"


def build_wheelhouse(dest: Path, python: str = sys.executable) -> Path:
    """Wheels of the serving requirements for an offline image build (run where an index is reachable)."""
    dest.mkdir(parents=True, exist_ok=True)
    reqs = dest / "requirements.txt"
    reqs.write_text(serving_requirements())
    done = subprocess.run([python, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(dest), "-r", str(reqs)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DeployError(f"pip wheel of {reqs} into {dest} failed: {done.stderr[-2000:]}")
    return dest


def _runtime_context(settings: ImageSettings) -> tuple[Path, str]:
    ctx = Path(tempfile.mkdtemp(prefix="ct-runtime-ctx-"))
    shutil.copy(SERVING_DIR / "Dockerfile.runtime", ctx / "Dockerfile")
    (ctx / "requirements.txt").write_text(serving_requirements())
    shutil.copytree(ROOT / "include", ctx / "include", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "models"))
    wheels = ctx / "wheelhouse"
    wheels.mkdir()
    if settings.wheelhouse is not None:
        for wheel in Path(settings.wheelhouse).glob("*.whl"):
            # A hard link when possible: the wheelhouse is hundreds of MB.
            try:
                (wheels / wheel.name).hardlink_to(wheel)
            except OSError:
                shutil.copy(wheel, wheels / wheel.name)
    digest = hashlib.sha256(settings.base_image.encode())
    for path in sorted(p for p in ctx.rglob("*") if p.is_file() and p.parent != wheels):
        digest.update(str(path.relative_to(ctx)).encode())
        digest.update(path.read_bytes())
    digest.update(b"offline" if settings.wheelhouse else b"index")
    return ctx, digest.hexdigest()[:12]


def _build(client, ctx: Path, tag: str, buildargs: dict, labels: dict) -> None:
    import docker.errors

    try:
        # network_mode host: the engine may have no bridge (dockerd --bridge=none), and RUN steps
        # need no network anyway when the wheels are in the context.
        client.images.build(path=str(ctx), tag=tag, buildargs=buildargs, labels=labels, rm=True, forcerm=True, network_mode="host")
    except docker.errors.BuildError as exc:
        log = "".join(str(chunk.get("stream", chunk.get("error", ""))) for chunk in exc.build_log)
        raise DeployError(f"building image {tag} failed: {exc.msg}\n--- last build output ---\n{log[-3000:]}") from exc
    except docker.errors.APIError as exc:
        raise DeployError(f"the Docker engine refused to build {tag}: {exc}") from exc
    finally:
        shutil.rmtree(ctx, ignore_errors=True)


def runtime_tag(settings: ImageSettings) -> str:
    """The tag the runtime image has for the current code, dependencies and base image."""
    ctx, digest = _runtime_context(settings)
    shutil.rmtree(ctx, ignore_errors=True)
    return f"{RUNTIME_REPOSITORY}:{digest}"


def ensure_runtime_image(client, settings: ImageSettings) -> str:
    """The runtime image for the current code and dependencies; built only when it does not exist."""
    import docker.errors

    ctx, digest = _runtime_context(settings)
    tag = f"{RUNTIME_REPOSITORY}:{digest}"
    try:
        client.images.get(tag)
        shutil.rmtree(ctx, ignore_errors=True)
        return tag
    except docker.errors.ImageNotFound:
        pass
    _build(client, ctx, tag, {"BASE_IMAGE": settings.base_image}, {f"{LABEL}.role": "runtime"})
    return tag


def image_labels(model: str, version: str, tags: dict) -> dict:
    labels = {f"{LABEL}.role": "model", f"{LABEL}.model": model, f"{LABEL}.version": str(version)}
    for tag, label in LINEAGE_LABELS.items():
        labels[f"{LABEL}.{label}"] = str(tags.get(tag) or "unknown")
    return labels


def ensure_model_image(client, runtime: str, model: str, version: str, tags: dict, export_model) -> tuple[str, bool]:
    """``<model>:<version>`` with the model baked in; returns (tag, built). ``export_model(dest)``
    writes the MLflow model folder. An existing image is reused: a registered version never changes."""
    import docker.errors

    tag = f"{model}:{version}"
    try:
        client.images.get(tag)
        return tag, False
    except docker.errors.ImageNotFound:
        pass
    ctx = Path(tempfile.mkdtemp(prefix="ct-model-ctx-"))
    shutil.copy(SERVING_DIR / "Dockerfile.model", ctx / "Dockerfile")
    try:
        export_model(ctx / "model")
    except Exception as exc:
        shutil.rmtree(ctx, ignore_errors=True)
        raise DeployError(f"cannot export {model} version {version} from the registry into an image: {exc}") from exc
    labels = image_labels(model, version, tags)
    buildargs = {"RUNTIME_IMAGE": runtime, "MODEL_NAME": model, "MODEL_VERSION": str(version), "RUN_ID": labels[f"{LABEL}.run-id"]}
    _build(client, ctx, tag, buildargs, labels)
    return tag, True


def prune_model_images(client, model: str, keep: int, protect: set[str]) -> list[str]:
    """Remove ``model``'s oldest images beyond ``keep``; versions in ``protect`` (current, previous)
    always stay. Returns the removed tags; an image still used by a container is left alone."""
    import docker.errors

    images = client.images.list(filters={"label": [f"{LABEL}.role=model", f"{LABEL}.model={model}"]})
    by_version = sorted(images, key=lambda im: int(im.labels.get(f"{LABEL}.version", "0")) if im.labels.get(f"{LABEL}.version", "").isdigit() else 0, reverse=True)
    removed = []
    for image in by_version[keep:]:
        version = image.labels.get(f"{LABEL}.version")
        if version in protect:
            continue
        try:
            client.images.remove(image.id)
            removed.append(f"{model}:{version}")
        except docker.errors.APIError:  # in use by a (stopped) container: kept, pruned next time
            continue
    return removed
