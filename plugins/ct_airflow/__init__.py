"""Airflow adapters of the continuous-training platform: hooks, operators, the DAG factory.

Everything here is thin: it reads Airflow connections and context, calls the
pure-Python core in ``include/`` and pushes small XComs (ids, paths, md5s).
Nothing heavy is imported at module level, because DAG files import this
package every time the dag-processor parses them.
"""
