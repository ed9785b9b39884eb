# One image for every Python process of the production stack (docker-compose.yaml): the Airflow
# components (api-server, scheduler, dag-processor, triggerer, Celery worker), the MLflow tracking
# server and the model server. The compose file chooses the process with `command:`; the image has no
# entrypoint of its own.
#
#   docker build -t ct-platform --build-arg CT_GIT_COMMIT="$(git rev-parse HEAD)" .
#
# Offline build (the build cannot reach a package index): build every wheel on a machine that can,
# into ./wheelhouse (same CPU architecture and Python 3.11 as the image), then point pip at it:
#
#   pip wheel --wheel-dir wheelhouse -r requirements.txt -c constraints.txt
#   docker build --build-arg PIP_FIND_LINKS=/wheelhouse --build-arg BASE_IMAGE=<local base image> .
#
# With PIP_FIND_LINKS set, pip runs with --no-index: it installs from the wheelhouse or fails, so an
# offline build never half-succeeds. ./wheelhouse is copied into the build stage only (never into the
# final image) and is optional: without it the build uses the package index.

# Any Debian bookworm image with Python 3.11 and the venv module will do (the project needs 3.11):
# the official python image on a normal machine, a debootstrap-made one where no registry is reachable.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS build

# /wheelhouse (the ./wheelhouse copied below) or a find-links URL; empty: use the package index.
ARG PIP_FIND_LINKS=""
# requirements.txt already holds the stack's packages (Celery provider with Redis, PostgreSQL drivers for
# the sync and async engines) and constraints.txt locks them, celery/kombu included (5.6: celery 5.7
# dropped `celery.backends.database.retry`, which the Celery provider 3.26.0 imports).
# STACK_REQUIREMENTS: extra packages to install on top (pip requirement specifiers); empty by default.
ARG STACK_REQUIREMENTS=""
# CONSTRAINT_OVERRIDES: pins that replace constraints.txt's for the same packages (e.g. to try a newer
# celery in an image without re-locking); empty by default.
ARG CONSTRAINT_OVERRIDES=""

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

COPY requirements.txt constraints.txt /tmp/ct-build/
# The glob lets the build go on when there is no ./wheelhouse (requirements.txt always matches).
COPY requirements.txt wheelhouse* /wheelhouse/

# A virtualenv rather than the system interpreter: Debian's own python3 refuses system-wide pip installs
# (PEP 668), and a venv copies cleanly into the final stage.
RUN set -eu; \
    find_links="${PIP_FIND_LINKS}"; \
    unset PIP_FIND_LINKS; \
    if [ -n "${find_links}" ]; then set -- --no-index --find-links "${find_links}"; else set --; fi; \
    cp /tmp/ct-build/constraints.txt /tmp/ct-build/constraints-image.txt; \
    for pin in ${CONSTRAINT_OVERRIDES}; do \
        grep -v -i -E "^${pin%%==*}==" /tmp/ct-build/constraints-image.txt > /tmp/ct-build/filtered.txt || true; \
        mv /tmp/ct-build/filtered.txt /tmp/ct-build/constraints-image.txt; \
    done; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/python -m pip install --quiet "$@" \
        -r /tmp/ct-build/requirements.txt -c /tmp/ct-build/constraints-image.txt \
        ${STACK_REQUIREMENTS} ${CONSTRAINT_OVERRIDES}; \
    /opt/venv/bin/python -m pip check

# ---------------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}

# Not root: uid 50000 as in Airflow's official image. Named volumes mounted on the folders created
# here start with this ownership (Docker copies it from the image on first use).
RUN groupadd --system --gid 50000 ct \
 && useradd --system --uid 50000 --gid ct --create-home --home-dir /home/ct --shell /bin/bash ct \
 && mkdir -p /opt/airflow/logs /var/lib/ct /var/lib/ct-dvc-remote /var/lib/mlflow/artifacts \
 && chown -R ct:ct /opt/airflow /var/lib/ct /var/lib/ct-dvc-remote /var/lib/mlflow

COPY --from=build /opt/venv /opt/venv

# The code is owned by root: the processes running as ct read it but cannot change it.
COPY dags/ /opt/ct/dags/
COPY plugins/ /opt/ct/plugins/
COPY include/ /opt/ct/include/
COPY scripts/ /opt/ct/scripts/
# Byte-compiled now, since ct cannot write __pycache__ next to the code (the dag-processor re-imports
# the DAG files every 30 s).
RUN find /opt/ct -name __pycache__ -prune -exec rm -rf {} + \
 && /opt/venv/bin/python -m compileall -q /opt/ct

# GIT_PYTHON_REFRESH: there is no git binary in the image, and GitPython (imported by DVC) must not
# insist on one. CT_HOME: the platform's state folder, a volume in docker-compose.yaml.
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONPATH=/opt/ct:/opt/ct/plugins \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/ct/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/ct/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    CT_HOME=/var/lib/ct \
    DVC_NO_ANALYTICS=1 \
    GIT_PYTHON_REFRESH=quiet

WORKDIR /opt/ct
USER ct
EXPOSE 8080 5000 5001
CMD ["airflow", "version"]

# Last, so that a new commit rebuilds only these two cheap layers. include/lineage.py reads
# CT_GIT_COMMIT as the code version of every trained model.
ARG CT_GIT_COMMIT=unknown
ENV CT_GIT_COMMIT=${CT_GIT_COMMIT}
LABEL org.opencontainers.image.title="ct-platform" \
      org.opencontainers.image.revision="${CT_GIT_COMMIT}"
