"""The MLflow tracking store and model registry, as the platform uses them.

Aliases, not the deprecated stages: ``champion`` is what is served,
``challenger`` the latest trained candidate, ``previous`` the champion before
the current one (the rollback target). Every registered version carries its
lineage as tags, set at creation so that a version never exists without them.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlparse

from include.errors import RegistryError

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    run_id: str | None
    tags: dict

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@contextlib.contextmanager
def quiet_skops():
    """Silence the deprecation warnings skops provokes, and only those.

    skops looks up every loaded module by name while checking types (on save, and on every
    load, including the one MLflow does to check an input example); under Airflow each lookup
    of a deprecated Airflow module warns: thousands of task-log lines, seconds of a task's time.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"skops\.")
        yield


def load_pyfunc(uri: str):
    """``mlflow.pyfunc.load_model`` without skops' flood of unrelated deprecation warnings."""
    import mlflow.pyfunc

    with quiet_skops():
        return mlflow.pyfunc.load_model(uri)


class Registry:
    """A thin facade over ``MlflowClient`` bound to one tracking/registry URI."""

    def __init__(self, tracking_uri: str, artifact_root: str | None = None):
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root

    @cached_property
    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def activate(self) -> None:
        """Point MLflow's fluent API (``mlflow.start_run``, ``log_model``) at this store."""
        import mlflow

        # Progress bars of artifact downloads fill task logs with carriage returns.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        os.environ["MLFLOW_TRACKING_URI"] = self.tracking_uri

    def experiment_id(self, name: str) -> str:
        """The model's experiment, created with an explicit artifact location (never the cwd)."""
        existing = self.client.get_experiment_by_name(name)
        if existing is not None:
            return existing.experiment_id
        location = None
        if self.artifact_root:
            # A URI of any scheme (s3://, mlflow-artifacts:/, file://) is used as is; a bare path is a local folder.
            is_uri = len(urlparse(self.artifact_root).scheme) > 1
            location = self.artifact_root if is_uri else f"file://{os.path.abspath(self.artifact_root)}"
            location = f"{location.rstrip('/')}/{name}"
        return self.client.create_experiment(name, artifact_location=location)

    def ensure_registered_model(self, name: str, description: str, tags: dict) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(name, tags=tags, description=description)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise RegistryError(f"cannot create registered model {name!r} in {self.tracking_uri}: {exc.message}") from exc

    def by_alias(self, name: str, alias: str) -> ModelRef | None:
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise
        return ModelRef(mv.name, str(mv.version), mv.run_id, dict(mv.tags))

    def version(self, name: str, version: str) -> ModelRef:
        mv = self.client.get_model_version(name, str(version))
        return ModelRef(mv.name, str(mv.version), mv.run_id, dict(mv.tags))

    def find_by_fingerprint(self, name: str, fingerprint: str) -> list[ModelRef]:
        """Versions trained from exactly these inputs, newest first."""
        found = self.client.search_model_versions(f"name = '{name}' and tags.fingerprint = '{fingerprint}'")
        refs = [ModelRef(mv.name, str(mv.version), mv.run_id, dict(mv.tags)) for mv in found]
        return sorted(refs, key=lambda r: int(r.version), reverse=True)

    def versions_tagged(self, name: str, key: str, value: str) -> list[ModelRef]:
        """Versions whose tag ``key`` equals ``value``, newest first."""
        found = self.client.search_model_versions(f"name = '{name}' and tags.{key} = '{value}'")
        refs = [ModelRef(mv.name, str(mv.version), mv.run_id, dict(mv.tags)) for mv in found]
        return sorted(refs, key=lambda r: int(r.version), reverse=True)

    def delete_version(self, name: str, version: str) -> None:
        self.client.delete_model_version(name, str(version))

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, str(version))

    def tag_version(self, name: str, version: str, tags: dict) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(name, str(version), key, str(value))

    def untag_version(self, name: str, version: str, keys) -> None:
        for key in keys:
            self.client.delete_model_version_tag(name, str(version), key)

    def load(self, ref: ModelRef):
        """Load a version as a pyfunc model; raises if its artifacts are gone or unreadable."""
        self.activate()
        return load_pyfunc(ref.uri)

    def has_model_files(self, ref: ModelRef) -> tuple[bool, str]:
        """Whether the version's files are all there: ``MLmodel`` and the non-empty files its flavors name.

        What the skip decision needs to trust a version, in a fraction of a second: loading the model
        costs seconds (skops checks every type), and the deploy step loads and smoke-tests it anyway.
        """
        import mlflow.artifacts
        import yaml

        self.activate()
        try:
            sizes = {f.path: f.file_size for f in mlflow.artifacts.list_artifacts(artifact_uri=ref.uri)}
            if "MLmodel" not in sizes:
                return False, f"no MLmodel file among its artifacts {sorted(sizes)}"
            flavors = yaml.safe_load(mlflow.artifacts.load_text(f"{ref.uri}/MLmodel")).get("flavors") or {}
        except Exception as exc:  # noqa: BLE001 - gone, unreadable, or not YAML: not a version to rely on
            return False, f"{type(exc).__name__}: {exc}"
        named = {value for conf in flavors.values() if isinstance(conf, dict) for key, value in conf.items() if key in MODEL_FILE_KEYS and isinstance(value, str)}
        missing = sorted(name for name in named if name not in sizes or sizes[name] == 0)
        if missing:
            return False, f"model files missing or empty: {missing} (MLmodel names them; found {sorted(sizes)})"
        return True, f"MLmodel and {sorted(named)} present"


# The keys under which MLflow flavors name their model file (sklearn: pickled_model; pyfunc: data, model_path).
MODEL_FILE_KEYS = ("pickled_model", "data", "model_path", "model_data")


def serving_example(registry: Registry, ref: ModelRef) -> dict:
    """The request MLflow saved with the model (``serving_input_example.json``), for smoke tests."""
    import json
    import tempfile

    import mlflow.artifacts

    registry.activate()
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=ref.uri, dst_path=tmp)
        with open(os.path.join(local, "serving_input_example.json")) as handle:
            return json.load(handle)
