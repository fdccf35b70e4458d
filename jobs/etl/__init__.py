"""PySpark ETL jobs that turn raw events into ML training features.

One module per step: schema -> quarantine -> dedupe -> transform -> quality -> publish, with
atomic per-date writes in `atomic`. The same functions run in Airflow tasks (local mode), in a
SparkApplication driver (`python -m etl.cli ...`), and in tests.
"""
