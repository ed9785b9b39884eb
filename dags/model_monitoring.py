"""One ``<model>__monitoring`` DAG per model YAML in include/models/ (drift, live quality, retraining).

Thin like model_pipelines.py: no ML library is imported when this file is parsed.
"""

import os

from airflow.sdk import get_parsing_context
from ct_airflow.monitoring_dag import build_all_monitoring

_MODELS_DIR = os.environ.get("CT_MODELS_DIR")

for _dag_id, _dag in build_all_monitoring(**({"models_dir": _MODELS_DIR} if _MODELS_DIR else {}), only=get_parsing_context().dag_id).items():
    globals()[_dag_id] = _dag
