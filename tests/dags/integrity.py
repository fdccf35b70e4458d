"""The platform's rules for every DAG, as functions returning problems (empty list = compliant),
shared by the integrity tests of the real DAG folder and by the scaffold tests."""
from datetime import timedelta

OWNER = "data-platform"
MAX_RETRY_DELAY = timedelta(minutes=30)


def dag_policy_problems(dag) -> list[str]:
    problems = []
    if dag.max_active_runs != 1:
        problems.append(f"{dag.dag_id}: max_active_runs must be 1 (got {dag.max_active_runs})")
    if dag.catchup is not False:
        problems.append(f"{dag.dag_id}: catchup must be stated False")
    if dag.dagrun_timeout is None:
        problems.append(f"{dag.dag_id}: no dagrun_timeout")
    if not dag.doc_md:
        problems.append(f"{dag.dag_id}: no doc_md")
    dag.check_cycle()  # raises on a cycle
    return problems


def task_policy_problems(dag) -> list[str]:
    # Imported here: collecting modules that only need the DAG rules stays light.
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    from mlops_dags.alerts import DoorayWebhookNotifier

    notifiers = {SmtpNotifier, SlackWebhookNotifier, DoorayWebhookNotifier}
    problems = []
    for task in dag.tasks:
        where = f"{dag.dag_id}.{task.task_id}"
        if task.retries < 1:
            problems.append(f"{where}: no retries")
        if not task.retry_exponential_backoff:
            problems.append(f"{where}: retries without exponential backoff")
        if not task.max_retry_delay or task.max_retry_delay > MAX_RETRY_DELAY:
            problems.append(f"{where}: max_retry_delay must be set and <= {MAX_RETRY_DELAY}")
        if task.owner != OWNER:
            problems.append(f"{where}: owner {task.owner!r}, expected {OWNER!r}")
        if task.execution_timeout is None:
            problems.append(f"{where}: no execution_timeout")
        kinds = {type(cb) for cb in task.on_failure_callback or []}
        if kinds != notifiers:
            problems.append(f"{where}: on_failure_callback must be e-mail, Slack and Dooray notifiers "
                            f"(got {sorted(k.__name__ for k in kinds)})")
        # Retries stay quiet: alerts are for failures that need a human.
        if task.on_retry_callback:
            problems.append(f"{where}: on_retry_callback must stay empty")
    return problems
