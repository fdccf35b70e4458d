"""`make new-job` / `make new-dag`: write a new ETL job or DAG from templates that follow the
repo's conventions (see dags/README.md). Never overwrites; refuses bad names before writing."""
