#!/usr/bin/env bash
# Creates the two application databases, each owned by its own login role, on the first start of the
# PostgreSQL container (the official image runs /docker-entrypoint-initdb.d/* only while the data
# directory is empty: changing a password in .env later means ALTER ROLE, not a restart).
#
#   airflow  Airflow's metadata database and the Celery result backend
#   mlflow   MLflow's tracking store and model registry
#
# Names and passwords come from the container environment (docker-compose.yaml, from .env). psql
# variables quote them (:"name" as an identifier, :'password' as a literal), so no value is ever
# spliced into SQL text. The entrypoint may source this file rather than run it: no `set`, no `exit`;
# a missing variable still stops the initialisation through ${VAR:?}.

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname "${POSTGRES_DB}" \
    --set=airflow_user="${AIRFLOW_DB_USER:?AIRFLOW_DB_USER is not set}" \
    --set=airflow_password="${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD is not set}" \
    --set=airflow_db="${AIRFLOW_DB_NAME:?AIRFLOW_DB_NAME is not set}" \
    --set=mlflow_user="${MLFLOW_DB_USER:?MLFLOW_DB_USER is not set}" \
    --set=mlflow_password="${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD is not set}" \
    --set=mlflow_db="${MLFLOW_DB_NAME:?MLFLOW_DB_NAME is not set}" <<'SQL'
CREATE ROLE :"airflow_user" LOGIN PASSWORD :'airflow_password';
CREATE DATABASE :"airflow_db" OWNER :"airflow_user";
REVOKE ALL ON DATABASE :"airflow_db" FROM PUBLIC;

CREATE ROLE :"mlflow_user" LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE :"mlflow_db" OWNER :"mlflow_user";
REVOKE ALL ON DATABASE :"mlflow_db" FROM PUBLIC;
SQL
