"""The spec's estimator, checked against scikit-learn itself before any data is read.

The schema (``include/spec.py``) can only check the shape of ``estimator.class`` and
``estimator.params``: importing scikit-learn at DAG parse time costs seconds. Here the class is
imported and asked: does it exist, is it an estimator for the spec's task, does it take these
parameters, and do the values meet its own ``_parameter_constraints`` (the table
scikit-learn validates against in ``fit``)? So ``RandomForestClassifer`` or
``n_estimators: "200"`` is refused by ``make check`` and at the start of a run, not three
tries into ``train``.

Constraints that tie several parameters together (e.g. a solver that does not support a penalty)
are checked by scikit-learn only in ``fit``; they still fail in ``train``.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re

from include.spec import ModelSpec


def _near(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def import_estimator(import_path: str) -> tuple[type | None, str]:
    """The class named by ``estimator.class``, or ``(None, why not)``."""
    module_name, _, class_name = import_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return None, f"cannot import module {module_name!r} ({exc})"
    found = getattr(module, class_name, None)
    if found is None:
        public = [n for n in getattr(module, "__all__", dir(module)) if not n.startswith("_")]
        return None, f"module {module_name!r} has no {class_name!r}{_near(class_name, public)}"
    if not inspect.isclass(found):
        return None, f"expected a class, found {type(found).__name__} {import_path!r}"
    return found, ""


def _task_problem(cls: type, task: str) -> str:
    from sklearn.base import is_classifier, is_regressor

    try:
        instance = cls()
    except Exception:  # noqa: BLE001 - an estimator with required arguments: its kind cannot be asked
        return ""
    kind = "classifier" if is_classifier(instance) else "regressor" if is_regressor(instance) else "neither a classifier nor a regressor"
    wanted = {"classification": "classifier", "regression": "regressor"}[task]
    if kind != wanted:
        return f"task is {task}, so a {wanted} is expected; {cls.__name__} is {kind if kind.startswith('neither') else 'a ' + kind}"
    return ""


def _param_problems(cls: type, params: dict, origin: dict[str, str]) -> list[tuple[str, str]]:
    from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

    accepted = cls._get_param_names() if hasattr(cls, "_get_param_names") else [
        p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs")]
    constraints = getattr(cls, "_parameter_constraints", {})
    problems = []
    for name, value in params.items():
        where = f"estimator.params.{name}"
        if name not in accepted:
            problems.append((where, f"{cls.__name__} takes no parameter {name!r}{_near(name, accepted)} (it takes {sorted(accepted)}){origin.get(name, '')}"))
            continue
        if name not in constraints:
            continue  # no declared constraint: scikit-learn checks it in fit, if at all
        try:
            validate_parameter_constraints({name: constraints[name]}, {name: value}, caller_name=cls.__name__)
        except InvalidParameterError as exc:
            problems.append((where, _expected_found(str(exc), value) + origin.get(name, "")))
    return problems


# scikit-learn's wording: "The 'n' parameter of C must be an int in the range [1, inf). Got '200' instead."
_SKLEARN_MESSAGE = re.compile(r"^The '.+' parameter of (?P<cls>\w+) must be (?P<expected>.+)\. Got (?P<found>.+) instead\.$", re.DOTALL)


def _expected_found(message: str, value) -> str:
    match = _SKLEARN_MESSAGE.match(message)
    if match is None:
        return message
    kind = f" (a {type(value).__name__}; quotes in YAML make a string)" if isinstance(value, str) else ""
    return f"{match['cls']} expects {match['expected']}, found {match['found']}{kind}"


def estimator_problems(spec: ModelSpec, source: str, overridden: tuple[str, ...] = ()) -> list[str]:
    """Every problem of ``spec.estimator``, each as ``<source>: <field>: <what was expected, what was found>``.

    ``source`` is the YAML's path; ``overridden`` names params whose value came from the trigger form.
    """
    cls, why = import_estimator(spec.estimator.class_)
    if cls is None:
        return [f"{source}: estimator.class: {why}"]
    from sklearn.base import BaseEstimator

    if not (issubclass(cls, BaseEstimator) or (hasattr(cls, "fit") and hasattr(cls, "get_params"))):
        return [f"{source}: estimator.class: expected a scikit-learn estimator (with fit and get_params), found {cls.__module__}.{cls.__name__}"]
    problems = []
    task = _task_problem(cls, spec.task)
    if task:
        problems.append(f"{source}: estimator.class: {task}")
    origin = {name: " (value from the run's overrides)" for name in overridden}
    problems += [f"{source}: {where}: {text}" for where, text in _param_problems(cls, spec.estimator.params, origin)]
    return problems
