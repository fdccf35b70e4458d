"""Alert mail can leave the airflow namespace: the SMTP connection the DAGs' notifiers use
(ExternalSecret airflow-alerting-connections, AIRFLOW_CONN_SMTP_DEFAULT) names a port the
namespace's egress policies allow, from the task pods (Airflow 3 runs a task's on_failure_callback
in its worker pod) and from the dag-processor (DAG-level callbacks). dev and prod used to connect on
465 while the policy opened only 587: every alert mail would have been dropped where policies are
enforced (NKS), and no test looked at both."""
from __future__ import annotations

import json
import re

from netpol import Pod, allowed
from platform_render import app, find, one, task_pod_template


def smtp_connection(env: str) -> dict:
    secret = one(app("external-secrets", env), "ExternalSecret", "airflow-alerting-connections", "airflow")
    template = secret["spec"]["target"]["template"]["data"]["AIRFLOW_CONN_SMTP_DEFAULT"]
    # The value is a Go template: its one action (the password) stands in as a string.
    return json.loads(re.sub(r"\{\{[^}]*\}\}", '"password"', template))


def test_the_smtp_port_is_open_from_the_pods_that_send_alerts(env):
    connection = smtp_connection(env)
    policies = find(app("airflow", env), "NetworkPolicy")
    # A mail server outside the cluster: only an ipBlock peer can match it.
    mail_server = Pod(namespace="outside", labels={}, host_network=True, name=connection["host"])
    task_labels = task_pod_template(env)["metadata"].get("labels") or {}
    processor = one(app("airflow", env), "Deployment", "airflow-dag-processor", "airflow")
    senders = {"task pod": task_labels, "dag-processor": processor["spec"]["template"]["metadata"]["labels"]}
    for name, labels in senders.items():
        sender = Pod(namespace="airflow", labels=labels, name=name)
        assert allowed(policies, sender, mail_server, int(connection["port"])), (
            f"{env}: apps/airflow NetworkPolicies refuse {name} -> {connection['host']}:{connection['port']} "
            "(apps/external-secrets ExternalSecret airflow-alerting-connections, AIRFLOW_CONN_SMTP_DEFAULT)")


def test_the_mail_leaves_over_tls_except_inside_the_local_node(env):
    extra = smtp_connection(env).get("extra") or {}
    if env == "local":
        assert smtp_connection(env)["host"] == "10.80.0.10", "local mail goes to the receiver in the node namespace"
    else:
        assert not extra.get("disable_ssl") and not extra.get("disable_tls"), f"{env}: alert mail in clear text"
