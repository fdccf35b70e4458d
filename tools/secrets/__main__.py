"""CLI behind `make rotate-secret`.

    python -m tools.secrets --cluster dev --namespace airflow --secret airflow-fernet-key [--dry-run]

Exit codes: 0 done, 1 an object of the plan is missing in the cluster or the API refused,
2 bad input (unknown cluster / namespace / ExternalSecret, listing what exists).
"""
from __future__ import annotations

import argparse
import sys

from kubernetes import config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from tools.gate.render import RenderError
from tools.secrets.discover import (
    RotationError,
    find_consumers,
    find_external_secret,
    render_cluster_objects,
)
from tools.secrets.rotate import Plan, execute


def build_plan(cluster: str, secret: str, namespace: str | None) -> Plan:
    objects = render_cluster_objects(cluster)
    es = find_external_secret(objects, cluster, secret, namespace)
    return Plan(cluster, es, find_consumers(objects, es.namespace, es.target_secret))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.secrets", description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", required=True, help="clusters/<env> to read the manifests of")
    parser.add_argument("--secret", required=True, help="name of the ExternalSecret to refresh")
    parser.add_argument("--namespace", default=None, help="its namespace (needed when the name is in several)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument("--kubeconfig", default=None, help="default: $KUBECONFIG or ~/.kube/config")
    parser.add_argument("--context", default=None, help="kube context (default: the current one)")
    args = parser.parse_args(argv)

    try:
        plan = build_plan(args.cluster, args.secret, args.namespace or None)
    except (RotationError, RenderError) as error:
        print(f"rotate-secret: {error}", file=sys.stderr)
        return 2
    for line in plan.describe():
        print(line)
    if args.dry_run:
        print("dry run: nothing changed")
        return 0

    try:
        api = config.new_client_from_config(config_file=args.kubeconfig, context=args.context)
    except (ConfigException, OSError) as error:
        print(f"rotate-secret: no usable kube context ({error}); set KUBECONFIG", file=sys.stderr)
        return 1
    server = api.configuration.host
    try:
        with api:
            outcome = execute(plan, api)
    except ApiException as error:
        print(f"rotate-secret: the API server at {server} refused: {error.status} {error.reason}: "
              f"{error.body}", file=sys.stderr)
        return 1
    es = plan.external_secret
    print(f"done on {server}:")
    if f"ExternalSecret {es.namespace}/{es.name}" not in outcome.missing:
        print(f"  annotated ExternalSecret {es.namespace}/{es.name} force-sync={outcome.force_sync}")
    for name in outcome.restarted:
        print(f"  restarted {name} (restartedAt={outcome.restarted_at})")
    for name in outcome.missing:
        print(f"rotate-secret: {name} is in the manifests of cluster {plan.cluster} but not on {server} "
              "(not synced yet?)", file=sys.stderr)
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
