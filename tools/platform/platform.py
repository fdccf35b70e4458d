"""The local platform: Argo CD in the local cluster, syncing this repository from a local git server.

`make platform-up` = `make k8s-up` + `make images`, then (this module) the bootstrap the README tells
an operator to do on a real cluster, with the local cluster's sources:
  0. the git server (tools/platform/gitserver.py) in the node's network namespace serves a bare copy
     of this checkout's HEAD and the mirrors of the upstream sources (tools/platform/mirrors.py);
  1. install Argo CD at the pinned version: the argocd Application's own upstream source for
     `local`, rendered and applied server-side (Argo CD adopts it when it syncs itself);
  2. `kubectl apply -k clusters/local`: from then on the root Application syncs everything;
then wait until every Application the cluster should have is Synced and Healthy, printing each
change of state per Application.

Before step 2, the IdP people log in to Argo CD with (clusters/local's oidc.config): the local
Keycloak (tools/idp) in the node's network namespace at IDP_ISSUER, its argocd client's secret put
into the local SKM under the key the ExternalSecret argocd-secret reads, and argocd-server given a
fixed address there (ARGOCD_URL, Argo CD's `url` in clusters/local, so its OIDC redirect).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from tools.gate import appset
from tools.gate.units import app_unit, platform_source
from tools.idp import keycloak
from tools.k8s import layout as L
from tools.k8s import procs
from tools.k8s.cluster import ClusterError, LocalKubernetes, _free_port, _log_tail, start_forwarder
from tools.platform import mirrors, skm
from tools.schemas.gomod import download

GIT_PORT = 8418
SKM_PORT = 8419
RECEIVER_PORT = 8420
MIRROR_URL = f"http://{L.NODE_IP}:{GIT_PORT}"
# Where alerts and Argo CD notifications go in the local cluster (tools/platform/receiver.py).
RECEIVER_URL = f"http://{L.NODE_IP}:{RECEIVER_PORT}"
# The receiver's SMTP side, where clusters/local sends Airflow's alert mail (the submission port the
# Airflow namespace's egress policy allows).
RECEIVER_SMTP_PORT = 587
# The local Keycloak (tools/idp) in the node namespace: the issuer of clusters/local's oidc.config.
IDP_PORT = 18080
IDP_URL = f"http://{L.NODE_IP}:{IDP_PORT}"
IDP_ISSUER = f"{IDP_URL}/realms/{keycloak.REALM}"
# argocd-server at a fixed address of the node namespace (a forwarder there to its Service, whose
# cluster IP changes with every cluster): Argo CD's `url` in clusters/local, so the redirect URI
# (url + /auth/callback) the realm's argocd client allows. HTTPS: argocd-server serves TLS itself
# (its own self-signed certificate) and redirects plain HTTP to it.
ARGOCD_NODE_PORT = 8443
ARGOCD_URL = f"https://{L.NODE_IP}:{ARGOCD_NODE_PORT}"
# The SKM key of Argo CD's OIDC client secret (ExternalSecret argocd-secret -> `$oidc.clientSecret`).
OIDC_CLIENT_SECRET_KEY = "argocd-oidc-client-secret"
CLUSTER = "local"
ARGOCD_NAMESPACE = "argocd"
MIRROR_CACHE = L.CACHE_DIR / "mirrors"
TOOLS_BIN = L.TOOLS_DIR / "bin"


class PlatformError(RuntimeError):
    pass


def render_cluster(cluster: str = CLUSTER) -> list[dict]:
    """clusters/<cluster> as `kubectl apply -k` renders it (the pinned kustomize, same result)."""
    out = subprocess.run([str(TOOLS_BIN / "kustomize"), "build", str(L.ROOT / "clusters" / cluster)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise PlatformError(f"kustomize build clusters/{cluster}: {out.stderr.strip()}")
    return [obj for obj in yaml.safe_load_all(out.stdout) if obj]


def expected_applications(cluster: str = CLUSTER) -> list[dict]:
    """Every Application the cluster gets: the root and those its ApplicationSets generate."""
    objects = render_cluster(cluster)
    roots = [o for o in objects if o.get("kind") == "Application"]
    return roots + appset.generated_applications(objects, L.ROOT)


def local_objects(cluster: str = CLUSTER) -> list[dict]:
    """Every object the cluster's Applications render from this repository (their platform sources)."""
    objects = []
    for application in expected_applications(cluster):
        name = application["metadata"]["name"]
        if name == "root" or platform_source(application) is None:
            continue  # the root renders the cluster entry; chart-only apps have no source of ours
        out = subprocess.run([str(TOOLS_BIN / "kustomize"), "build", str(app_unit(cluster, name, L.ROOT))],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise PlatformError(f"kustomize build of {name} for {cluster}: {out.stderr.strip()}")
        objects += [o for o in yaml.safe_load_all(out.stdout) if o]
    return objects


class Platform:
    def __init__(self, k8s: LocalKubernetes | None = None):
        self.k8s = k8s or LocalKubernetes()
        self.lay = self.k8s.layout
        self.dir = self.lay.state_dir / "platform"
        self.served = self.dir / "served"
        self.status_file = self.dir / "status.json"

    # --- state ---------------------------------------------------------------------------------
    def status(self) -> dict:
        try:
            return json.loads(self.status_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _save(self, **values) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.status_file.write_text(json.dumps({**self.status(), **values}, indent=2))

    def kubectl(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120):
        return self.k8s.kubectl(*args, check=check, input=input, timeout=timeout)

    # --- 0. the servers in the node namespace: git, the secret store, the alert receiver -----------
    def _serve(self, name: str, port: int, args: list[str]) -> int:
        """Start `python -m tools.platform.<name>` in the node namespace on `port` (idempotent) and
        a host forwarder to it; returns the forwarder's host port."""
        if not any(f.name == name for f in procs.find_ours(self.lay.state_dir)):
            procs.spawn([sys.executable, "-m", f"tools.platform.{name}", *args, "--port", str(port),
                         "--tag", str(self.lay.state_dir.resolve())],
                        self.lay.logs / f"{name}.log", self.lay.pids / f"{name}.pid", self.lay.netns, L.ROOT)
        deadline = time.monotonic() + 20
        while not self.k8s._netns_http_ok(f"http://127.0.0.1:{port}/healthz"):
            if time.monotonic() > deadline:
                raise PlatformError(f"{name} does not answer: {_log_tail(self.lay.logs / f'{name}.log')}")
            time.sleep(0.2)
        host_port = self.status().get(f"{name}_host_port")
        if not host_port or not self.k8s._port_answers(host_port):
            host_port = _free_port()
            start_forwarder(self.lay, host_port, port)
            self._save(**{f"{name}_host_port": host_port})
        return host_port

    def start_gitserver(self) -> int:
        (self.served / "git").mkdir(parents=True, exist_ok=True)
        (self.served / "charts").mkdir(parents=True, exist_ok=True)
        return self._serve("gitserver", GIT_PORT, ["--root", str(self.served)])

    @property
    def skm_store(self) -> Path:
        """The local Secure Key Manager's values (outside git, owner-only)."""
        return self.dir / "skm-store.json"

    def start_skm(self) -> dict:
        """The local SKM with a value for every key the cluster's ExternalSecrets read; then step 2
        of the bootstrap: the one hand-made secret, nhn-skm-credentials."""
        keys = skm.external_secret_keys(local_objects())
        store = skm.ensure_store(self.skm_store, keys, RECEIVER_URL)
        self._serve("skm", SKM_PORT, ["--store", str(self.skm_store)])
        for namespace in ("external-secrets",):
            if self.kubectl("get", "namespace", namespace, check=False).returncode != 0:
                self.kubectl("create", "namespace", namespace)
        manifest = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    # ESO's webhook provider only reads a secret labelled for it (README, bootstrap).
                    "metadata": {"name": "nhn-skm-credentials", "namespace": "external-secrets",
                                 "labels": {"external-secrets.io/type": "webhook"}},
                    "stringData": store["credentials"]}
        self.kubectl("apply", "-f", "-", input=json.dumps(manifest))
        return store

    def start_receiver(self) -> int:
        """Needs the SKM store (start_skm): mail logins are checked against its SMTP password."""
        return self._serve("receiver", RECEIVER_PORT, ["--log", str(self.dir / "received.jsonl"),
                                                       "--smtp-port", str(RECEIVER_SMTP_PORT),
                                                       "--smtp-store", str(self.skm_store)])

    # --- the IdP: Keycloak in the node namespace, its client secret in the SKM --------------------
    @property
    def idp_dir(self) -> Path:
        return self.dir / "idp"

    def idp_config(self) -> keycloak.Config:
        """tools/idp's settings for the node namespace (what `IDP_NETNS=... make idp-up` would use),
        with its own state dir, so a developer's `make idp-up` on the host is another server."""
        return keycloak.Config.from_env({
            "IDP_STATE_DIR": str(self.idp_dir), "IDP_NETNS": self.lay.netns, "IDP_ADDRESS": L.NODE_IP,
            "IDP_PORT": str(IDP_PORT), "IDP_HOSTNAME": IDP_URL, "IDP_ARGOCD_URL": ARGOCD_URL})

    def start_idp(self) -> keycloak.Config:
        """Keycloak in the node namespace (idempotent: a running one is kept, with its secrets), and
        its argocd client's secret as the local SKM's `argocd-oidc-client-secret`, so the secret
        External Secrets merges into argocd-secret is the one Keycloak checks. Needs start_skm."""
        cfg = self.idp_config()
        try:
            keycloak.up(cfg)
        except keycloak.IdpError as error:
            raise PlatformError(f"the local Keycloak did not start in {self.lay.netns}: {error}") from None
        secret = keycloak.load_secrets(cfg)["clients"]["argocd"]
        if skm.set_secret(self.skm_store, OIDC_CLIENT_SECRET_KEY, secret):
            self.refresh_external_secret(ARGOCD_NAMESPACE, "argocd-secret")
        return cfg

    def refresh_external_secret(self, namespace: str, name: str) -> bool:
        """Make External Secrets read an ExternalSecret again now, not at its next refreshInterval
        (1h): a new annotation value is a change it acts on. False when it does not exist yet (then
        its first read takes the store as it is)."""
        if self.kubectl("-n", namespace, "get", "externalsecret", name, check=False).returncode != 0:
            return False
        self.kubectl("-n", namespace, "annotate", "externalsecret", name, "--overwrite",
                     f"force-sync={time.time_ns()}")
        return True

    def stop_idp(self) -> None:
        """Stop the node namespace's Keycloak (found by command line) and delete its state: its
        database, generated passwords and client secrets, and its copy of the distribution."""
        try:
            keycloak.down(self.idp_config())
        except keycloak.IdpError as error:
            raise PlatformError(str(error)) from None
        shutil.rmtree(self.idp_dir, ignore_errors=True)

    def expose_argocd(self) -> str:
        """argocd-server at ARGOCD_URL inside the node namespace: a forwarder started there, on the
        node address, to the argocd-server Service's cluster IP (port 443). Idempotent: a forwarder
        to the current cluster IP is kept, one to an old IP is replaced. Returns ARGOCD_URL."""
        cluster_ip = self.kubectl("-n", ARGOCD_NAMESPACE, "get", "service", "argocd-server", "-o",
                                  "jsonpath={.spec.clusterIP}").stdout.strip()
        ours = [f for f in procs.find_ours(self.lay.state_dir)
                if f.name == "forwarder" and "--listen-host" in f.argv
                and f.argv[f.argv.index("--port") + 1] == str(ARGOCD_NODE_PORT)]
        current = [f for f in ours if f.argv[f.argv.index("--target-host") + 1] == cluster_ip]
        for stale in (f for f in ours if f not in current):
            procs.stop(stale.pid, grace=5)
        if not current:
            procs.spawn([sys.executable, "-m", "tools.k8s.forward", "--netns", self.lay.netns,
                         "--listen-host", L.NODE_IP, "--port", str(ARGOCD_NODE_PORT), "--target-port", "443",
                         "--target-host", cluster_ip, "--tag", str(self.lay.state_dir.resolve())],
                        self.lay.logs / "forward-argocd-server.log", self.lay.pids / "forward-argocd-server.pid",
                        self.lay.netns, L.ROOT)
        deadline = time.monotonic() + 30
        while not self.k8s._netns_http_ok(f"{ARGOCD_URL}/healthz"):
            if time.monotonic() > deadline:
                raise PlatformError(f"argocd-server does not answer at {ARGOCD_URL} in the node namespace: "
                                    f"{_log_tail(self.lay.logs / 'forward-argocd-server.log')}")
            time.sleep(0.5)
        return ARGOCD_URL

    def in_node_namespace(self, fn):
        """Run fn() in a thread inside the node namespace (where IDP_URL and ARGOCD_URL are)."""
        return procs.in_netns(self.lay.netns, fn)

    def publish(self) -> str:
        """This checkout's HEAD becomes `main` of the local remote."""
        return mirrors.publish_repo(self.served, L.ROOT)

    @property
    def remote(self) -> Path:
        """The local remote on disk (what a developer or the CI bot pushes to)."""
        return self.served / "git" / "nks-mlops-gitops.git"

    def make_mirrors(self, applications: list[dict]) -> list[str]:
        made = []
        helm = TOOLS_BIN / "helm"
        for kind, upstream, version in mirrors.wanted(applications):
            name = mirrors.base_name(upstream)
            if kind == "git":
                mirrors.git_mirror(MIRROR_CACHE, upstream, version)
                link, target = self.served / "git" / name, MIRROR_CACHE / "git" / name
            else:
                mirrors.chart_mirror(MIRROR_CACHE, upstream, version, MIRROR_URL, helm)
                link, target = self.served / "charts" / name, MIRROR_CACHE / "charts" / name
            if not link.is_symlink():
                link.symlink_to(target)
            made.append(f"{kind} {name}@{version}")
        return made

    def service_port(self, namespace: str, service: str, port: int) -> int:
        """A host port forwarded to a Service's cluster IP inside the node namespace (idempotent)."""
        key = f"svc_{namespace}_{service}_{port}"
        cluster_ip = self.kubectl("-n", namespace, "get", "service", service, "-o", "jsonpath={.spec.clusterIP}").stdout
        known = self.status().get(key) or {}
        if known.get("ip") == cluster_ip and self.k8s._port_answers(known.get("port", 0)):
            return known["port"]
        host_port = _free_port()
        start_forwarder(self.lay, host_port, port, cluster_ip)
        self._save(**{key: {"ip": cluster_ip, "port": host_port}})
        return host_port

    def webhook_secret(self) -> str:
        return json.loads(self.skm_store.read_text())["secrets"]["argocd-github-webhook-secret"]

    def notify_push(self, commit: str, before: str = "0" * 40, files: list[str] | None = None,
                    branch: str = "main") -> int:
        """Tell Argo CD about a push, as GitHub does: POST /api/webhook with a push event signed with
        the shared secret (webhook.github.secret). Returns the HTTP status."""
        import hashlib
        import hmac
        import ssl
        import urllib.request

        url = f"{MIRROR_URL}/git/nks-mlops-gitops.git"
        payload = json.dumps({
            "ref": f"refs/heads/{branch}", "before": before, "after": commit,
            "repository": {"html_url": url, "clone_url": url, "default_branch": branch,
                           "full_name": "mlops-platform/nks-mlops-gitops"},
            "commits": [{"id": commit, "added": [], "removed": [], "modified": files or []}],
        }).encode()
        signature = "sha256=" + hmac.new(self.webhook_secret().encode(), payload, hashlib.sha256).hexdigest()
        port = self.service_port(ARGOCD_NAMESPACE, "argocd-server", 443)
        request = urllib.request.Request(f"https://127.0.0.1:{port}/api/webhook", data=payload, method="POST",
                                         headers={"Content-Type": "application/json", "X-GitHub-Event": "push",
                                                  "X-Hub-Signature-256": signature,
                                                  "X-GitHub-Delivery": commit[:12]})
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # argocd-server's self-signed certificate
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    # --- 1. Argo CD itself -----------------------------------------------------------------------
    def argocd_install(self, applications: list[dict]) -> str:
        """What the argocd Application's upstream source renders to in this cluster."""
        app = next(a for a in applications if a["metadata"]["name"] == "argocd")
        source = next(s for s in app["spec"]["sources"] if s.get("name") == "upstream")
        upstream = next(u for u in mirrors.SOURCES if mirrors.base_name(u) == mirrors.base_name(source["repoURL"]))
        module_dir = download(mirrors.SOURCES[upstream].module, source["targetRevision"])
        options = source.get("kustomize") or {}
        kustomization: dict = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                               "resources": [f"upstream/{source['path']}"]}
        images = []
        for spec in options.get("images") or []:
            name, _, new = spec.partition("=")
            new_name, _, tag = new.rpartition(":")
            images.append({"name": name, "newName": new_name, "newTag": tag})
        if images:
            kustomization["images"] = images
        if options.get("patches"):
            kustomization["patches"] = options["patches"]
        with tempfile.TemporaryDirectory(prefix="argocd-install-") as work:
            # kustomize takes only relative resource paths: a copy of the module's files, like the
            # checkout of the mirror's tag Argo CD itself renders.
            shutil.copytree(module_dir, Path(work) / "upstream", symlinks=True)
            (Path(work) / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
            out = subprocess.run([str(TOOLS_BIN / "kustomize"), "build", work], capture_output=True, text=True)
        if out.returncode != 0:
            raise PlatformError(f"rendering Argo CD {source['targetRevision']}: {out.stderr.strip()}")
        return out.stdout

    def install_argocd(self, applications: list[dict]) -> None:
        if self.kubectl("get", "namespace", ARGOCD_NAMESPACE, check=False).returncode != 0:
            self.kubectl("create", "namespace", ARGOCD_NAMESPACE)
        self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", "bootstrap",
                     "-n", ARGOCD_NAMESPACE, "-f", "-", input=self.argocd_install(applications), timeout=300)
        # The components' flags are read at start: ours before the first start (README, bootstrap).
        self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", "bootstrap",
                     "-f", str(L.ROOT / "apps" / "argocd" / "base" / "argocd-cmd-params-cm.yaml"))
        for kind, name in (("deployment", "argocd-repo-server"), ("deployment", "argocd-server"),
                           ("deployment", "argocd-applicationset-controller"), ("deployment", "argocd-redis"),
                           ("statefulset", "argocd-application-controller")):
            result = self.kubectl("-n", ARGOCD_NAMESPACE, "rollout", "status", f"{kind}/{name}", "--timeout=600s",
                                  check=False, timeout=620)
            if result.returncode != 0:
                raise PlatformError(f"Argo CD {kind} {name} did not become ready: {result.stderr.strip()}\n"
                                    + self.describe_pods(ARGOCD_NAMESPACE))
            print(f"platform: {name} ready", flush=True)

    def describe_pods(self, namespace: str) -> str:
        pods = self.kubectl("-n", namespace, "get", "pods", "-o", "wide", check=False).stdout
        events = self.kubectl("-n", namespace, "get", "events", "--sort-by=.lastTimestamp", check=False).stdout
        return f"{pods}\n{chr(10).join(events.splitlines()[-15:])}"

    # --- 2. the root Application -------------------------------------------------------------------
    def apply_cluster(self) -> None:
        kubectl = self.k8s.kubectl_bin
        result = subprocess.run([str(kubectl), f"--kubeconfig={self.lay.kubeconfig}", "apply", "-k",
                                 str(L.ROOT / "clusters" / CLUSTER)], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise PlatformError(f"kubectl apply -k clusters/{CLUSTER}: {result.stderr.strip()}")

    def applications(self) -> dict[str, dict]:
        out = self.kubectl("-n", ARGOCD_NAMESPACE, "get", "applications.argoproj.io", "-o", "json", check=False)
        if out.returncode != 0:
            return {}
        return {a["metadata"]["name"]: a for a in json.loads(out.stdout)["items"]}

    @staticmethod
    def state(app: dict) -> tuple[str, str, str]:
        status = app.get("status") or {}
        sync = status.get("sync") or {}
        # A multi-source Application reports one revision per source; this repository's is last.
        revision = sync.get("revision") or (sync.get("revisions") or [""])[-1]
        return (sync.get("status", "Unknown"), (status.get("health") or {}).get("status", "Unknown"), revision[:12])

    def wait_synced(self, names: list[str], timeout: float = 1200) -> dict[str, float]:
        """Until every named Application is Synced + Healthy; prints each change; returns the
        seconds (from now) at which each first was."""
        started = time.monotonic()
        seen: dict[str, tuple] = {}
        done: dict[str, float] = {}
        unstuck: set[str] = set()
        while True:
            apps = self.applications()
            for name in names:
                state = self.state(apps[name]) if name in apps else ("Missing", "Missing", "")
                if seen.get(name) != state:
                    seen[name] = state
                    print(f"platform: {time.monotonic() - started:6.1f}s  {name:28} {state[0]:10} {state[1]}",
                          flush=True)
                if state[:2] == ("Synced", "Healthy") and name not in done:
                    done[name] = round(time.monotonic() - started, 1)
            if len(done) == len(names):
                return done
            for name in names:
                if name not in done and name not in unstuck and self._stuck_on_a_gone_hook(apps.get(name) or {}):
                    # Seen with Argo CD v3.2.11: a Sync hook (airflow's migration Job) that first ran
                    # before its Secret existed (ApplicationSet waves order nothing) was deleted for a
                    # retry and the operation kept "waiting for completion" of it ("Pending deletion")
                    # forever. What an operator does: end that operation and sync again, once.
                    print(f"platform: {name}: its sync waits for a hook that no longer exists; "
                          "terminating that operation and syncing again (once)", flush=True)
                    run_argocd("app", "terminate-op", name, k8s=self.k8s, check=False)
                    time.sleep(5)
                    run_argocd("app", "sync", name, "--async", k8s=self.k8s, check=False)
                    unstuck.add(name)
            if time.monotonic() - started > timeout:
                stuck = {n: seen[n] for n in names if n not in done}
                details = []
                for name in stuck:
                    status = (apps.get(name) or {}).get("status") or {}
                    for condition in status.get("conditions") or []:
                        details.append(f"  {name}: {condition.get('type')}: {condition.get('message')}")
                    message = (status.get("operationState") or {}).get("message")
                    if message:
                        details.append(f"  {name}: last sync: {message}")
                raise PlatformError(f"not Synced+Healthy after {timeout:.0f}s: {stuck}\n" + "\n".join(details))
            time.sleep(2)

    def _stuck_on_a_gone_hook(self, app: dict, after: float = 300) -> bool:
        from datetime import UTC, datetime

        operation = (app.get("status") or {}).get("operationState") or {}
        if operation.get("phase") != "Running" or "waiting for completion of hook" not in operation.get("message", ""):
            return False
        started = datetime.fromisoformat(operation["startedAt"].replace("Z", "+00:00"))
        if (datetime.now(UTC) - started).total_seconds() < after:
            return False
        hooks = [r for r in (operation.get("syncResult") or {}).get("resources") or []
                 if r.get("hookType") and r.get("hookPhase") == "Running"]
        return bool(hooks) and all(
            self.kubectl("-n", r.get("namespace") or ARGOCD_NAMESPACE, "get", r["kind"].lower(), r["name"],
                         check=False).returncode != 0 for r in hooks)

    # --- the whole bring-up ------------------------------------------------------------------------
    def up(self) -> dict[str, float]:
        if not self.k8s.healthy():
            raise PlatformError("the local cluster is not running: `make k8s-up` first (make platform-up does)")
        timings: dict[str, float] = {}
        started = time.monotonic()
        applications = expected_applications()
        self.start_gitserver()
        made = self.make_mirrors(applications)
        commit = self.publish()
        print(f"platform: git server serves this checkout's HEAD {commit[:12]} and mirrors: {', '.join(made)}")
        timings["git server + mirrors"] = round(time.monotonic() - started, 1)
        phase = time.monotonic()
        self.install_argocd(applications)
        timings["Argo CD installed"] = round(time.monotonic() - phase, 1)
        phase = time.monotonic()
        store = self.start_skm()
        print(f"platform: local Secure Key Manager holds {len(store['secrets'])} secrets; "
              "nhn-skm-credentials created", flush=True)
        timings["local SKM"] = round(time.monotonic() - phase, 1)
        phase = time.monotonic()
        idp = self.start_idp()
        print(f"platform: Keycloak answers at {idp.issuer} in the node namespace; its argocd client secret "
              f"is the SKM's {OIDC_CLIENT_SECRET_KEY}", flush=True)
        print(f"platform: argocd-server at {self.expose_argocd()} in the node namespace", flush=True)
        timings["Keycloak + argocd-server address"] = round(time.monotonic() - phase, 1)
        phase = time.monotonic()
        self.start_receiver()
        self.apply_cluster()
        names = [a["metadata"]["name"] for a in applications]
        done = self.wait_synced(names)
        timings["all Applications Synced+Healthy"] = round(time.monotonic() - phase, 1)
        timings["total"] = round(time.monotonic() - started, 1)
        self._save(timings=timings, synced_after=done, commit=commit)
        return timings

    def down(self) -> None:
        """The IdP first (stopping the cluster would stop its process too, as one of ours, but not
        delete its data and secrets), then the whole cluster. Idempotent."""
        self.stop_idp()
        self.k8s.down()


def run_argocd(*args: str, k8s: LocalKubernetes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """The argocd CLI in core mode: it talks to the API server with our kubeconfig, no login."""
    k8s = k8s or LocalKubernetes()
    # Written from the cluster's kubeconfig every time: a new cluster has new credentials.
    kubeconfig = k8s.layout.state_dir / "platform" / "kubeconfig-argocd"
    config = yaml.safe_load(k8s.layout.kubeconfig.read_text())
    for context in config.get("contexts") or []:
        context["context"]["namespace"] = ARGOCD_NAMESPACE
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    kubeconfig.write_text(yaml.safe_dump(config))
    kubeconfig.chmod(0o600)
    result = subprocess.run([str(TOOLS_BIN / "argocd"), "--core", *args], capture_output=True, text=True,
                            env={"KUBECONFIG": str(kubeconfig), "HOME": str(kubeconfig.parent),
                                 "PATH": "/usr/bin:/bin"}, timeout=180)
    if check and result.returncode != 0:
        raise PlatformError(f"argocd {' '.join(args)}: {result.stderr.strip()}")
    return result


__all__ = ["ClusterError", "Platform", "PlatformError", "expected_applications", "run_argocd"]
