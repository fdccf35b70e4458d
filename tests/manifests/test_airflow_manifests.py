"""Airflow 3 manifests: git-sync, the KubernetesExecutor pod template, settings and RBAC."""
from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

import pytest
import yaml
from platform_render import app, configmap_data, containers, env_map, find, one, scheduler_task_pod_template, task_pod_template

GIT_SYNCED = ["airflow-dag-processor", "airflow-triggerer"]
NOT_GIT_SYNCED = ["airflow-scheduler", "airflow-api-server"]
CONTROL_PLANE = GIT_SYNCED + NOT_GIT_SYNCED


def deployment(env: str, name: str) -> dict:
    return one(app("airflow", env), "Deployment", name, "airflow")


def mounts(container: dict) -> dict[str, dict]:
    return {m["mountPath"]: m for m in container.get("volumeMounts", [])}


def volumes(pod_spec: dict) -> dict[str, dict]:
    return {v["name"]: v for v in pod_spec.get("volumes", [])}


def git_sync_settings(env: str) -> dict[str, str]:
    return configmap_data(app("airflow", env), "airflow-git-sync", "airflow")


def airflow_settings(env: str) -> dict[str, str]:
    return configmap_data(app("airflow", env), "airflow-config", "airflow")


def assert_reads_git_sync_settings(container: dict) -> None:
    refs = [s["configMapRef"]["name"] for s in container.get("envFrom", []) if "configMapRef" in s]
    assert "airflow-git-sync" in refs, f"{container['name']} does not read ConfigMap airflow-git-sync"


def assert_ssh_key_read_only(container: dict, pod_spec: dict) -> None:
    ssh_mounts = [m for m in container["volumeMounts"] if m["name"] == "git-ssh"]
    assert ssh_mounts and all(m.get("readOnly") for m in ssh_mounts), "SSH key must be mounted read-only"
    secret = volumes(pod_spec)["git-ssh"]["secret"]
    assert secret["secretName"] == "airflow-git-ssh"
    assert {i["key"] for i in secret["items"]} == {"gitSshKey", "known_hosts"}
    assert secret["defaultMode"] & 0o007 == 0, "the SSH key must not be world-readable"


# --- git-sync -------------------------------------------------------------------------------

def test_git_sync_settings_follow_the_contract(env):
    settings = git_sync_settings(env)
    for key in ("GITSYNC_REPO", "GITSYNC_REF", "GITSYNC_PERIOD", "GITSYNC_SSH_KEY_FILE", "GITSYNC_SSH_KNOWN_HOSTS_FILE"):
        assert settings.get(key), f"{key} missing from airflow-git-sync"
    assert settings["GITSYNC_ROOT"] == "/git"
    assert settings["GITSYNC_LINK"] == "repo"
    assert settings["GITSYNC_SSH_KNOWN_HOSTS"] == "true"
    if env == "local":  # the local git server (clusters/local/laptop), plain HTTP
        assert settings["GITSYNC_REPO"].startswith("http://10.80.0.10:"), settings["GITSYNC_REPO"]
    else:
        assert settings["GITSYNC_REPO"].startswith("git@"), "the deploy key implies an SSH remote"


@pytest.mark.parametrize("name", GIT_SYNCED)
def test_git_sync_sidecar_on_dag_processor_and_triggerer(env, name):
    spec = deployment(env, name)["spec"]["template"]["spec"]
    sidecar = containers(spec)["git-sync"]
    # local: the stand-in of tools/platform/images/git-sync (clusters/local/laptop maps it).
    assert sidecar["image"].startswith(("registry.k8s.io/git-sync/git-sync:v4.",
                                        "127.0.0.1:5000/mlops-platform/git-sync:v4.")), sidecar["image"]
    assert sidecar["image"] == configmap_data(app("airflow", env), "airflow-job-images", "airflow")["GIT_SYNC_IMAGE"]
    assert_reads_git_sync_settings(sidecar)
    assert "GITSYNC_ONE_TIME" not in env_map(sidecar), "a sidecar must keep syncing"
    settings = git_sync_settings(env)
    assert mounts(sidecar)[settings["GITSYNC_ROOT"]]["name"] == "dags"
    assert_ssh_key_read_only(sidecar, spec)
    # The ssh key/known_hosts files the settings name are the ones the secret provides.
    for key in ("GITSYNC_SSH_KEY_FILE", "GITSYNC_SSH_KNOWN_HOSTS_FILE"):
        mount_dir = str(PurePosixPath(settings[key]).parent)
        assert mounts(sidecar)[mount_dir]["name"] == "git-ssh", key
    assert "emptyDir" in volumes(spec)["dags"], "DAGs live in an emptyDir shared with Airflow"


@pytest.mark.parametrize("name", NOT_GIT_SYNCED)
def test_no_git_sync_where_dags_are_not_parsed(env, name):
    spec = deployment(env, name)["spec"]["template"]["spec"]
    assert "git-sync" not in containers(spec)
    assert "git-sync" not in containers(spec, init=True)


@pytest.mark.parametrize("name", GIT_SYNCED)
def test_airflow_containers_mount_dags_read_only_where_git_sync_links_them(env, name):
    spec = deployment(env, name)["spec"]["template"]["spec"]
    dags_mount = mounts(containers(spec)["airflow"])["/opt/airflow/dags"]
    assert dags_mount == {"name": "dags", "mountPath": "/opt/airflow/dags", "readOnly": True}
    # git-sync writes <root>/<link>/...; Airflow sees the same volume at /opt/airflow/dags.
    settings = git_sync_settings(env)
    expected = f"/opt/airflow/dags/{settings['GITSYNC_LINK']}/dags"
    assert airflow_settings(env)["AIRFLOW__CORE__DAGS_FOLDER"] == expected


# --- KubernetesExecutor task pods -------------------------------------------------------------

def test_executor_is_kubernetes_and_deletes_finished_pods(env):
    settings = airflow_settings(env)
    assert settings["AIRFLOW__CORE__EXECUTOR"] == "KubernetesExecutor"
    assert settings["AIRFLOW__KUBERNETES_EXECUTOR__DELETE_WORKER_PODS"] == "True"
    assert settings["AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE"] == "airflow"


def test_scheduler_mounts_the_pod_template_where_airflow_looks(env):
    template_path = PurePosixPath(airflow_settings(env)["AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE"])
    spec = deployment(env, "airflow-scheduler")["spec"]["template"]["spec"]
    mount = mounts(containers(spec)["airflow"])[str(template_path.parent)]
    source = volumes(spec)[mount["name"]]["configMap"]["name"]
    assert template_path.name in configmap_data(app("airflow", env), source, "airflow")


def test_task_pod_template_carries_dag_volume_and_one_time_git_sync(env):
    pod = task_pod_template(env)
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["serviceAccountName"] == "airflow-worker"
    init = containers(spec, init=True)["git-sync-init"]
    assert env_map(init)["GITSYNC_ONE_TIME"]["value"] == "true"
    assert_reads_git_sync_settings(init)
    assert mounts(init)["/git"]["name"] == "dags"
    assert_ssh_key_read_only(init, spec)
    base = containers(spec)["base"]  # the KubernetesExecutor replaces the container named `base`
    assert mounts(base)["/opt/airflow/dags"] == {"name": "dags", "mountPath": "/opt/airflow/dags", "readOnly": True}
    assert "emptyDir" in volumes(spec)["dags"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "airflow"


def test_task_pods_get_the_etl_image_and_settings(env):
    base = containers(task_pod_template(env)["spec"])["base"]
    ref = env_map(base)["ETL_JOB_IMAGE"]["valueFrom"]["configMapKeyRef"]
    assert ref == {"name": "airflow-job-images", "key": "ETL_JOB_IMAGE"}
    config_maps = {s["configMapRef"]["name"] for s in base["envFrom"] if "configMapRef" in s}
    assert {"airflow-config", "airflow-etl"} <= config_maps
    # Names referenced from inside the template string are not rewritten by kustomize, so they
    # must exist verbatim (no hash suffix) in the rendered output.
    rendered = {o["metadata"]["name"] for o in find(app("airflow", env), "ConfigMap")}
    assert config_maps | {"airflow-job-images", "airflow-git-sync", "airflow-cfg-file"} <= rendered


# --- settings ---------------------------------------------------------------------------------

def test_every_airflow_setting_is_a_real_airflow_option(env):
    """A typo in AIRFLOW__SECTION__KEY is silently ignored by Airflow; catch it here."""
    config_yml = Path(__import__("airflow").__file__).parent / "config_templates" / "config.yml"
    known = {(section, key) for section, body in yaml.safe_load(config_yml.read_text()).items()
             for key in (body.get("options") or {})}
    from airflow.providers.cncf.kubernetes import get_provider_info
    for section, body in get_provider_info.get_provider_info()["config"].items():
        known |= {(section, key) for key in body["options"]}
    unknown = []
    for name in airflow_settings(env):
        _, section, key = name.split("__", 2)
        if (section.lower(), key.lower()) not in known:
            unknown.append(name)
    assert not unknown, f"not Airflow options: {unknown}"


def test_new_dag_files_are_picked_up_quickly(env):
    """Budget for merge -> parsed (target p95 <= 20 s): git-sync poll + dag-dir refresh + parse."""
    period = git_sync_settings(env)["GITSYNC_PERIOD"]
    assert period.endswith("s") and int(period[:-1]) <= 10
    settings = airflow_settings(env)
    assert int(settings["AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL"]) <= 10
    assert int(settings["AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL"]) <= 5


def test_secrets_come_from_the_contract_secrets(env):
    env_vars = env_map(containers(deployment(env, "airflow-api-server")["spec"]["template"]["spec"])["airflow"])
    expected = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": ("airflow-metadata-db", "connection"),
        "AIRFLOW__CORE__FERNET_KEY": ("airflow-fernet-key", "fernet-key"),
        "AIRFLOW__API_AUTH__JWT_SECRET": ("airflow-api-secret", "jwt-secret"),
        "AIRFLOW__API__SECRET_KEY": ("airflow-api-secret", "api-secret-key"),
    }
    for var, (secret, key) in expected.items():
        ref = env_vars[var]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (secret, key), var


def test_in_cluster_postgres_only_in_dev():
    assert find(app("airflow", "dev"), "StatefulSet", "airflow-postgres", "airflow")
    assert not find(app("airflow", "prod"), "StatefulSet")


# --- RBAC -----------------------------------------------------------------------------------

def test_airflow_rbac_is_namespaced(env):
    objects = app("airflow", env)
    assert not find(objects, "ClusterRole") and not find(objects, "ClusterRoleBinding")
    pod_role = one(objects, "Role", "airflow-pod-launcher", "airflow")
    assert any("pods" in r["resources"] and {"create", "delete"} <= set(r["verbs"]) for r in pod_role["rules"])
    spark_role = one(objects, "Role", "airflow-spark-submitter", "spark-jobs")
    assert any("sparkapplications" in r["resources"] and "create" in r["verbs"] for r in spark_role["rules"])
    assert not any("pods" in r["resources"] and "create" in r["verbs"] for r in spark_role["rules"])
    for binding in find(objects, "RoleBinding"):
        for subject in binding["subjects"]:
            assert subject["namespace"] == "airflow", binding["metadata"]["name"]


def test_only_the_scheduler_gets_pod_rights(env):
    objects = app("airflow", env)
    binding = one(objects, "RoleBinding", "airflow-pod-launcher", "airflow")
    assert [s["name"] for s in binding["subjects"]] == ["airflow-scheduler"]
    for name in CONTROL_PLANE:
        sa = deployment(env, name)["spec"]["template"]["spec"]["serviceAccountName"]
        assert (sa == "airflow-scheduler") == (name == "airflow-scheduler"), name


# --- worker image ---------------------------------------------------------------------------

def scheduler_script(env: str) -> str:
    args = containers(deployment(env, "airflow-scheduler")["spec"]["template"]["spec"])["airflow"]["args"]
    assert args[:2] == ["bash", "-c"]
    return args[2]


@pytest.mark.parametrize("image, repository, tag", [
    ("mlops-kr1-registry.container.nhncloud.com/mlops-platform/airflow:3.3.2-7",
     "mlops-kr1-registry.container.nhncloud.com/mlops-platform/airflow", "3.3.2-7"),
    ("mlops-kr1-registry.container.nhncloud.com/mlops-platform/airflow@sha256:" + "ab" * 32,
     "mlops-kr1-registry.container.nhncloud.com/mlops-platform/airflow@sha256", "ab" * 32),
])
def test_scheduler_hands_its_image_to_task_pods(image, repository, tag, tmp_path):
    """Run the scheduler's real start script (with `airflow` swapped for a probe) in bash."""
    script = scheduler_script("dev").replace("exec airflow scheduler",
                                             'echo "$AIRFLOW__KUBERNETES_EXECUTOR__WORKER_CONTAINER_REPOSITORY|'
                                             '$AIRFLOW__KUBERNETES_EXECUTOR__WORKER_CONTAINER_TAG"')
    template = tmp_path / "pod_template_file.yaml"
    template.write_text("spec: {}\n")
    environment = {"AIRFLOW_WORKER_IMAGE": image, "PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path),
                   "GIT_SYNC_IMAGE": "registry.k8s.io/git-sync/git-sync:v4.4.2",
                   "AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE": str(template)}
    out = subprocess.run(["bash", "-c", script], env=environment,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == f"{repository}|{tag}"
    # Airflow rebuilds the image as "<repository>:<tag>": the original reference again.
    assert f"{repository}:{tag}" == image


def test_worker_image_is_the_airflow_image_of_the_overlay(env):
    objects = app("airflow", env)
    worker_image = configmap_data(objects, "airflow-job-images", "airflow")["AIRFLOW_WORKER_IMAGE"]
    for name in CONTROL_PLANE:
        assert containers(deployment(env, name)["spec"]["template"]["spec"])["airflow"]["image"] == worker_image


def test_airflow_builds_a_task_pod_from_the_template(env, tmp_path):
    """The KubernetesExecutor's own code turns the template into a task pod: the worker image
    replaces `base`'s image, and the git-sync init container and DAG volume survive the merge."""
    import datetime

    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator

    template = tmp_path / "pod_template_file.yaml"
    template.write_text(configmap_data(app("airflow", env), "airflow-pod-template", "airflow")["pod_template_file.yaml"])
    base_pod = PodGenerator.deserialize_model_file(str(template))
    worker_image = configmap_data(app("airflow", env), "airflow-job-images", "airflow")["AIRFLOW_WORKER_IMAGE"]
    pod = PodGenerator.construct_pod(
        dag_id="events_features", task_id="build", pod_id="events-features-build", try_number=1,
        kube_image=worker_image, date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        args=["airflow", "tasks", "run"], pod_override_object=None, base_worker_pod=base_pod,
        namespace="airflow", scheduler_job_id="1", run_id="manual__1")
    base = next(c for c in pod.spec.containers if c.name == "base")
    assert base.image == worker_image
    assert base.args == ["airflow", "tasks", "run"]
    assert [c.name for c in pod.spec.init_containers] == ["git-sync-init"]
    assert {v.name for v in pod.spec.volumes} >= {"dags", "git-ssh"}
    assert any(m.mount_path == "/opt/airflow/dags" and m.read_only for m in base.volume_mounts)
    assert pod.spec.service_account_name == "airflow-worker"
    assert pod.metadata.namespace == "airflow"


def test_a_task_pod_is_pinned_to_the_commit_its_dag_was_parsed_from(env, tmp_path):
    """The DAGs' pod override (mlops_dags.dag_version) goes through the executor's own merge: the
    template's git-sync init container keeps its image, ConfigMap and mounts, and fetches the commit
    (GITSYNC_REF in env wins over the ConfigMap's branch); no second init container appears."""
    import datetime
    import sys

    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dags"))
    from mlops_dags import dag_version

    sha = "89abcdef0123456789abcdef0123456789abcdef"
    template = tmp_path / "pod_template_file.yaml"
    template.write_text(configmap_data(app("airflow", env), "airflow-pod-template", "airflow")["pod_template_file.yaml"])
    base_pod = PodGenerator.deserialize_model_file(str(template))
    pod = PodGenerator.construct_pod(
        dag_id="events_features", task_id="build", pod_id="events-features-build", try_number=1,
        kube_image="x/airflow:1", date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        args=["airflow", "tasks", "run"], pod_override_object=dag_version.executor_config(sha)["pod_override"],
        base_worker_pod=base_pod, namespace="airflow", scheduler_job_id="1", run_id="manual__1")
    [init] = pod.spec.init_containers
    template_init = base_pod.spec.init_containers[0]
    assert init.name == dag_version.GIT_SYNC_INIT_CONTAINER == template_init.name
    assert init.image == template_init.image and init.volume_mounts == template_init.volume_mounts
    assert [s.config_map_ref.name for s in init.env_from] == ["airflow-git-sync"]
    refs = [e.value for e in init.env if e.name == "GITSYNC_REF"]
    assert refs == [sha], f"{env}: the init container's GITSYNC_REF is {refs}"
    assert pod.metadata.annotations[dag_version.COMMIT_ANNOTATION] == sha
    base = next(c for c in pod.spec.containers if c.name == "base")
    assert base.image == "x/airflow:1" and base.args == ["airflow", "tasks", "run"]


def test_task_pods_get_the_overlays_git_sync_image(env, tmp_path):
    """The pod template is a file kustomize's `images:` cannot rewrite: the scheduler hands the
    executor a copy whose git-sync init container runs the overlay's git-sync image (the sidecars'),
    and which is otherwise the template of the ConfigMap."""
    rendered = scheduler_task_pod_template(env, tmp_path)
    git_sync_image = configmap_data(app("airflow", env), "airflow-job-images", "airflow")["GIT_SYNC_IMAGE"]
    assert containers(rendered["spec"], init=True)["git-sync-init"]["image"] == git_sync_image
    sidecar = containers(deployment(env, "airflow-dag-processor")["spec"]["template"]["spec"])["git-sync"]
    assert sidecar["image"] == git_sync_image
    original = task_pod_template(env)
    containers(original["spec"], init=True)["git-sync-init"]["image"] = git_sync_image
    assert rendered == original


def test_scheduler_refuses_to_start_without_a_git_sync_image(tmp_path):
    script = scheduler_script("dev").replace("exec airflow scheduler", "echo started")
    template = tmp_path / "pod_template_file.yaml"
    template.write_text("spec: {}\n")
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                          env={"AIRFLOW_WORKER_IMAGE": "x/airflow:1", "PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path),
                               "AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE": str(template)})
    assert proc.returncode != 0 and "started" not in proc.stdout
    assert "GIT_SYNC_IMAGE" in proc.stderr
