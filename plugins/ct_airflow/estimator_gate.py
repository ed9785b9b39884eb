"""The first step of every training run: the estimator, with this run's overrides, checked against scikit-learn.

A class that does not exist or a param scikit-learn would refuse is a verdict about the YAML (or the
trigger form), not a fault: the run fails at once, without retries and before any data is read,
instead of three tries into ``train``. ``make check`` runs the same check without Airflow.
"""

from __future__ import annotations

from ct_airflow.common import model_spec, with_overrides


def refuse_untrainable_estimator(spec_path: str, context, log) -> None:
    """Raise AirflowFailException naming file and field when the run's estimator cannot be built."""
    from airflow.sdk.exceptions import AirflowFailException

    from include.estimator_check import estimator_problems

    spec = model_spec(spec_path)
    run_spec = with_overrides(spec, None, context)  # refused overrides fail here too, as a verdict
    overridden = tuple(k for k, v in run_spec.estimator.params.items() if k not in spec.estimator.params or spec.estimator.params[k] != v)
    problems = estimator_problems(run_spec, spec_path, overridden)
    if problems:
        raise AirflowFailException(
            f"The estimator of model {spec.name!r} cannot be trained, so nothing was read or trained "
            f"(not retried; fix the YAML or the run's overrides; `make check` lists every model's problems):\n" + "\n".join(problems)
        )
    log.info("Estimator %s with params %s: accepted by scikit-learn's own checks", run_spec.estimator.class_, run_spec.estimator.params)
