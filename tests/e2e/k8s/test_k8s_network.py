"""Cluster DNS (CoreDNS) and Services (kube-proxy) work across namespaces, as they do on NKS."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.e2e.k8s.conftest import image_records, restricted_pod
from tools.controlplane.pki import KUBERNETES_SERVICE_IP

pytestmark = pytest.mark.e2e

# kube-proxy programs a Service's rules shortly after its endpoint turns ready: retry for 60 s.
CLIENT = """
import json, socket, ssl, sys, time, urllib.error, urllib.request
service, marker = sys.argv[1], sys.argv[2]
out = {"kubernetes": socket.gethostbyname("kubernetes.default.svc"),
       "service": socket.gethostbyname(service)}
deadline = time.time() + 60
while True:
    try:
        with urllib.request.urlopen(f"http://{service}:8080/", timeout=10) as response:
            out["body"] = response.read().decode().strip()
        break
    except OSError as error:
        if time.time() > deadline:
            raise
        print("retrying:", error, file=sys.stderr)
        time.sleep(1)
# The API server through the `kubernetes` Service: any HTTP answer proves the path works.
try:
    urllib.request.urlopen("https://kubernetes.default.svc/version", timeout=10,
                           context=ssl._create_unverified_context())
    out["apiserver"] = 200
except urllib.error.HTTPError as error:
    out["apiserver"] = error.code
print(json.dumps(out))
"""


def test_pod_reaches_a_service_in_another_namespace_by_name(cluster, namespace):
    record = image_records("jobs")["airflow"]
    image = f"{record['image']}@{record['digest']}"
    server_ns, client_ns = namespace("web"), namespace("client")
    marker = f"hello-{uuid.uuid4().hex[:8]}"
    server = restricted_pod("web", image, ["sh", "-c", f"mkdir -p /tmp/www && echo {marker} > /tmp/www/index.html"
                                           " && exec python -m http.server -d /tmp/www 8080"],
                            restart="Always", labels={"app": "web"}, ports=[{"containerPort": 8080}])
    server["spec"]["containers"][0]["readinessProbe"] = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
    server_ns.apply(server)
    server_ns.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                     "spec": {"selector": {"app": "web"}, "ports": [{"port": 8080, "targetPort": 8080}]}})
    server_ns.wait_ready("web", timeout=300)

    fqdn = f"web.{server_ns.name}.svc.cluster.local"
    client_ns.apply(restricted_pod("client", image, ["python", "-c", CLIENT, fqdn, marker]))
    pod = client_ns.wait_pod_phase("client", {"Succeeded", "Failed"}, timeout=240)
    logs = client_ns.logs("client")
    assert pod["status"]["phase"] == "Succeeded", logs[-2000:]
    out = json.loads(logs.strip().splitlines()[-1])
    service_ip = server_ns.get("service", "web")["spec"]["clusterIP"]
    assert out["kubernetes"] == KUBERNETES_SERVICE_IP
    assert out["service"] == service_ip
    assert out["body"] == marker
    assert out["apiserver"] in (200, 401, 403)
