"""Step 2 of a Fernet key rotation: `airflow rotate-fernet-key` in a scheduler pod that has both keys.

    python -m tools.secrets.fernet --cluster dev [--namespace airflow] [--deployment airflow-scheduler]

Airflow decrypts with any key of AIRFLOW__CORE__FERNET_KEY (comma-separated, newest first) and
`rotate-fernet-key` re-encrypts every connection password/extra and variable with the first one.
It must therefore run in a pod started after `make rotate-secret` delivered "new,old": the command
refuses while the Deployment's rollout is unfinished, and runs in a ready pod of the newest
ReplicaSet only. Exit codes: 0 done, 1 cluster not ready / command failed, 2 bad input.
"""
from __future__ import annotations

import argparse
import re
import sys

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.stream import stream

from tools.gate.render import RenderError
from tools.secrets.discover import RotationError, render_cluster_objects

COMMAND = ["airflow", "rotate-fernet-key"]
CONTAINER = "airflow"
EXEC_TIMEOUT_SECONDS = 600


class NotReady(RuntimeError):
    """The cluster is not in a state where re-encrypting would use the new key."""


def check_rendered(cluster: str, namespace: str, deployment: str) -> None:
    objects = render_cluster_objects(cluster)
    deployments = sorted(f"{o['metadata'].get('namespace')}/{o['metadata']['name']}" for o, _ in objects
                         if o.get("kind") == "Deployment")
    if f"{namespace}/{deployment}" not in deployments:
        raise RotationError(f"cluster {cluster}: no Deployment {namespace}/{deployment} in the rendered manifests; "
                            f"Deployments: {', '.join(deployments)}")


def rollout_pod(api: client.ApiClient, namespace: str, deployment: str) -> str:
    """A ready pod of the Deployment's current template, once its rollout has finished."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    live = apps.read_namespaced_deployment(deployment, namespace)
    wanted = live.spec.replicas if live.spec.replicas is not None else 1
    status = live.status
    if (status.observed_generation or 0) < live.metadata.generation or (status.updated_replicas or 0) < wanted \
            or (status.ready_replicas or 0) < wanted or (status.replicas or 0) > wanted:
        raise NotReady(
            f"rollout of Deployment {namespace}/{deployment} is not finished ({status.updated_replicas or 0}/{wanted} "
            f"updated, {status.ready_replicas or 0} ready, {status.replicas or 0} total); pods may still run with "
            f"the old key only. Wait for `kubectl -n {namespace} rollout status deployment/{deployment}`")
    newest = _newest_replica_set(apps, live)
    selector = ",".join(f"{k}={v}" for k, v in (live.spec.selector.match_labels or {}).items())
    pods = core.list_namespaced_pod(namespace, label_selector=selector).items
    for pod in pods:
        owners = {ref.uid for ref in pod.metadata.owner_references or []}
        ready = any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))
        if newest.metadata.uid in owners and pod.status.phase == "Running" and ready \
                and pod.metadata.deletion_timestamp is None:
            return pod.metadata.name
    states = ", ".join(f"{p.metadata.name}={p.status.phase}" for p in pods) or "none"
    raise NotReady(f"no ready pod of Deployment {namespace}/{deployment}'s current ReplicaSet "
                   f"{newest.metadata.name} (pods: {states})")


def _newest_replica_set(apps: client.AppsV1Api, deployment) -> client.V1ReplicaSet:
    owned = [rs for rs in apps.list_namespaced_replica_set(deployment.metadata.namespace).items
             if any(ref.uid == deployment.metadata.uid for ref in rs.metadata.owner_references or [])]
    revision = str(deployment.metadata.annotations.get("deployment.kubernetes.io/revision", ""))
    for rs in owned:
        if (rs.metadata.annotations or {}).get("deployment.kubernetes.io/revision") == revision:
            return rs
    raise NotReady(f"Deployment {deployment.metadata.namespace}/{deployment.metadata.name} has no ReplicaSet "
                   f"of its revision {revision or '(none yet)'}")


class ExecRefused(RuntimeError):
    """The API server would not open the exec session; the message is the server's."""


def _server_message(error: BaseException) -> str:
    """The API server's Status message out of a failed websocket handshake (or the error text)."""
    text = str(getattr(error, "reason", "") or error)
    found = re.search(r'"message":"((?:[^"\\]|\\.)*)"', text)
    return found.group(1) if found else text


def run_rotate_command(api: client.ApiClient, namespace: str, pod: str) -> tuple[int, str, str]:
    """Exec the Airflow CLI in the pod (what `kubectl exec` does); returns exit code, stdout, stderr."""
    try:
        session = stream(client.CoreV1Api(api).connect_get_namespaced_pod_exec, pod, namespace,
                         container=CONTAINER, command=COMMAND, stdin=False, stdout=True, stderr=True, tty=False,
                         _preload_content=False)
    except ApiException as error:
        raise ExecRefused(_server_message(error)) from error
    except AttributeError as error:
        # The client turns a refused handshake into ApiException(status=0) and then trips over its
        # missing body while re-raising; the server's answer is in the chained exception.
        if isinstance(error.__context__, ApiException):
            raise ExecRefused(_server_message(error.__context__)) from error
        raise
    session.run_forever(timeout=EXEC_TIMEOUT_SECONDS)
    stdout, stderr = session.read_stdout(), session.read_stderr()
    session.close()
    code = session.returncode
    return (1 if code is None else code), stdout or "", stderr or ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.secrets.fernet", description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--namespace", default="airflow")
    parser.add_argument("--deployment", default="airflow-scheduler")
    parser.add_argument("--kubeconfig", default=None)
    parser.add_argument("--context", default=None)
    args = parser.parse_args(argv)
    try:
        check_rendered(args.cluster, args.namespace, args.deployment)
    except (RotationError, RenderError) as error:
        print(f"rotate-fernet-key: {error}", file=sys.stderr)
        return 2
    try:
        api = config.new_client_from_config(config_file=args.kubeconfig, context=args.context)
    except (ConfigException, OSError) as error:
        print(f"rotate-fernet-key: no usable kube context ({error}); set KUBECONFIG", file=sys.stderr)
        return 1
    with api:
        try:
            pod = rollout_pod(api, args.namespace, args.deployment)
            print(f"running `{' '.join(COMMAND)}` in pod {args.namespace}/{pod} (container {CONTAINER})")
            code, stdout, stderr = run_rotate_command(api, args.namespace, pod)
        except NotReady as error:
            print(f"rotate-fernet-key: {error}", file=sys.stderr)
            return 1
        except ExecRefused as error:
            print(f"rotate-fernet-key: the API server at {api.configuration.host} refused to exec in "
                  f"{args.namespace}/{pod}: {error}", file=sys.stderr)
            return 1
        except ApiException as error:
            print(f"rotate-fernet-key: the API server at {api.configuration.host} refused: {error.status} "
                  f"{error.reason}", file=sys.stderr)
            return 1
    sys.stdout.write(stdout)
    sys.stderr.write(stderr)
    if code != 0:
        print(f"rotate-fernet-key: `{' '.join(COMMAND)}` exited {code} in {args.namespace}/{pod}", file=sys.stderr)
        return 1
    print("re-encrypted with the first key; now store only the new key in Secure Key Manager and run "
          "`make rotate-secret SECRET=airflow-fernet-key NAMESPACE=airflow CLUSTER=...` again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
