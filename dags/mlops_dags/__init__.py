"""Shared building blocks of our DAG files (settings, alerting, Spark submission).

The DAG folder is on sys.path in every Airflow process, so DAG files import `mlops_dags.*`.
"""
