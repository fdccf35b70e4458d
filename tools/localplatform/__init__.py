"""Local platform: PostgreSQL, a git server, a git-sync-style syncer, Airflow 3 and alert receivers.

Started by `make up`, stopped by `make down`; everything it runs lives under `.run/localplatform/`.
"""
