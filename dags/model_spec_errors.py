"""Broken model YAMLs as Airflow DAG import errors (UI banner, ``airflow dags list-import-errors``).

Builds no DAG: it raises, naming each broken YAML's file and field, whenever one exists. It is its
own file because the dag-processor records import errors per file and drops every DAG of a file
that raises: model_pipelines.py keeps the good models and a failing stand-in for each broken one.
(The words "Airflow" and "DAG" in this docstring are what the dag-processor's safe mode looks for.)
"""

import os

from ct_airflow.invalid_spec import raise_for_invalid_specs

from include.settings import MODELS_DIR

raise_for_invalid_specs(os.environ.get("CT_MODELS_DIR") or MODELS_DIR)
