"""One exception hierarchy for the whole platform.

Every message says what was expected, what was found and where, so that the
person reading an Airflow task log can act on it without reading our code.
The Airflow adapters decide which of these are verdicts (never retried) and
which are faults (worth a retry): see ``plugins/ct_airflow/errors.py``.
"""


class PlatformError(Exception):
    """Base class of every error raised by the continuous-training core."""


class SpecError(PlatformError):
    """A model YAML is missing, unreadable or does not match the schema."""


class RunWindowError(PlatformError):
    """A run asks for days it may not own (a day not yet complete, a malformed day): a verdict, never retried."""


class SourceError(PlatformError):
    """A data source could not be read (missing, unreachable, corrupt)."""


class SourceDataError(SourceError):
    """The source answered, but what it gave for some days cannot be used (corrupt, truncated,
    wrong encoding, rows in the wrong partition, undeclared columns the spec refuses). A verdict
    about those days: they go to quarantine with the offending files as evidence."""

    def __init__(self, message: str, days: list | None = None, files: list | None = None):
        super().__init__(message)
        self.days = list(days or [])
        self.files = list(files or [])


class StorageError(PlatformError):
    """The state folder could not be written (disk full, read-only); a fault, worth a retry once fixed."""


class PartitionConflictError(PlatformError):
    """An immutable partition would be rewritten with different bytes."""


class DataValidationError(PlatformError):
    """A batch failed its expectation suite (a verdict: retrying will not help)."""

    def __init__(self, message: str, report_path: str | None = None):
        super().__init__(message)
        self.report_path = report_path


class VersioningError(PlatformError):
    """DVC could not track, push or fetch a snapshot."""


class RegistryError(PlatformError):
    """The MLflow tracking store or model registry refused an operation."""


class QualityGateError(PlatformError):
    """A model did not pass a quality gate (a verdict, never retried)."""


class DeployError(PlatformError):
    """A model version could not be made to serve (health or smoke check failed)."""


class PromotionSupersededError(PlatformError):
    """The champion moved between evaluation and promotion (another run promoted first): a verdict, not retried."""
