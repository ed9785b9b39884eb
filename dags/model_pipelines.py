"""One continuous-training DAG per model YAML in include/models/ (dag_id = file name).

Kept thin on purpose: parsing this file must stay cheap (it runs every 30 s),
so no ML library is imported here; tasks import them when they run.
"""

import os

from airflow.sdk import get_parsing_context
from ct_airflow.dag_factory import build_all

_MODELS_DIR = os.environ.get("CT_MODELS_DIR")

for _dag_id, _dag in build_all(**({"models_dir": _MODELS_DIR} if _MODELS_DIR else {}), only=get_parsing_context().dag_id).items():
    globals()[_dag_id] = _dag
