"""Kubernetes mode: what SparkKubernetesOperator would submit is a valid, policy-clean
SparkApplication running the same job code, with the image the cluster overlay sets."""
import copy
import json
import shutil

import pytest

from tests.dags.conftest import REPO, load_dagbag
from tools.clusters import names as cluster_names

IMAGE = "mlops-kr1-registry.container.nhncloud.com/mlops-platform/spark-etl:1.2.3"
SCHEMA = REPO / ".tools/schemas/crds/sparkapplication-sparkoperator-v1beta2.json"
KUBECONFORM = REPO / ".tools/bin/kubeconform"


@pytest.fixture(scope="module")
def k8s_dag():
    bag = load_dagbag("kubernetes", ETL_JOB_IMAGE=IMAGE, ETL_DATA_ROOT="s3a://mlops-prod-data",
                      ETL_EVENT_LOG_DIR="s3a://mlops-prod-data/spark-events", ETL_PLATFORM_OVERLAY="prod")
    return bag.dags["events_features"]


@pytest.fixture(scope="module")
def applications(k8s_dag):
    """Every SparkApplication of one run: unmapped steps rendered by the operator's own Jinja
    templating, mapped ones from the planning task."""
    context = {"ds": "2026-11-27", "run_id": "scheduled__2026-11-27T00:00:00+00:00"}
    apps = {}
    for task_id in ("build_features", "check_quality", "publish_manifest"):
        op = k8s_dag.get_task(task_id)
        rendered = op.render_template(op.template_spec, context, jinja_env=k8s_dag.get_template_env())
        op.template_spec = rendered
        apps[task_id] = op.manage_template_specs()["spark"]
    specs = k8s_dag.get_task("plan_partitions").python_callable(**context)
    for i, spec in enumerate(specs):
        apps[f"validate_partition[{i}]"] = spec["spark"]
    return apps


def test_one_application_per_step_and_partition(applications):
    assert len(applications) == 3 + 4
    args = applications["validate_partition[2]"]["spec"]["arguments"]
    assert args == ["validate", "--date", "2026-11-27", "--root", "s3a://mlops-prod-data",
                    "--run-id", "scheduled__2026-11-27T00:00:00+00:00", "--part", "00002"]
    assert applications["build_features"]["spec"]["arguments"][:3] == ["features", "--date", "2026-11-27"]


def test_applications_follow_the_platform_contract(applications):
    for name, app in applications.items():
        spec = app["spec"]
        assert app["metadata"]["namespace"] == "spark-jobs", name
        assert spec["image"] == IMAGE, name
        assert spec["mainApplicationFile"] == "local:///opt/etl/etl/cli.py", name
        conf = spec["sparkConf"]
        assert conf["spark.dynamicAllocation.enabled"] == "true", name
        assert conf["spark.dynamicAllocation.shuffleTracking.enabled"] == "true", name
        assert conf["spark.dynamicAllocation.minExecutors"] == "0", name  # no executor left when idle
        assert spec["timeToLiveSeconds"] > 0, name
        assert spec["sparkConf"]["spark.eventLog.dir"] == "s3a://mlops-prod-data/spark-events", name
        assert spec["restartPolicy"]["type"] == "Never", name  # Airflow owns retries
        assert spec["sparkVersion"] == "4.2.0", name  # = pyspark in requirements.lock
        assert {"name": "spark-tmp", "emptyDir": {"sizeLimit": "2Gi"}} in spec["volumes"], name
        for role in ("driver", "executor"):
            part = spec[role]
            assert part["podSecurityContext"]["runAsUser"] == 185 and part["podSecurityContext"]["runAsNonRoot"]
            sc = part["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
            assert sc["seccompProfile"]["type"] == "RuntimeDefault"
            # Read-only image root; temp files go to the spark-tmp emptyDir.
            assert sc["readOnlyRootFilesystem"] is True, (name, role)
            assert {"name": "spark-tmp", "mountPath": "/tmp"} in part["volumeMounts"], (name, role)
            assert part["cores"] and part["coreLimit"] and part["memory"] and part["memoryLimit"], (name, role)
            for label in ("app.kubernetes.io/name", "app.kubernetes.io/part-of", "owner"):
                assert label in part["labels"], (name, role, label)
        for label in ("app.kubernetes.io/name", "app.kubernetes.io/part-of", "owner"):
            assert label in app["metadata"]["labels"], (name, label)


def test_job_entry_point_accepts_the_submitted_arguments(applications):
    from etl.cli import parse_args

    for app in applications.values():
        args = parse_args(app["spec"]["arguments"])
        assert args.root == "s3a://mlops-prod-data"


@pytest.mark.skipif(not (SCHEMA.exists() and KUBECONFORM.exists()), reason="run `make schemas go-tools` first")
def test_applications_pass_kubeconform_strict(applications, tmp_path):
    from tools.gate import schema

    for version in ("1.34.0", "1.35.0"):  # NKS target and the upgrade-readiness check
        errors = schema.validate(list(applications.values()), version, tmp_path / version)
        assert not errors, [f"{e.message} {e.details}" for e in errors]


def test_kubeconform_check_can_fail(applications, tmp_path):
    """Guard against a vacuous pass: an unknown field must be reported."""
    if not (SCHEMA.exists() and KUBECONFORM.exists()):
        pytest.skip("run `make schemas go-tools` first")
    from tools.gate import schema

    broken = json.loads(json.dumps(applications["build_features"]))
    broken["spec"]["dynamicAllocation"] = {"enabled": True, "shuffleTracking": True}  # misspelt field
    errors = schema.validate([broken], "1.34.0", tmp_path / "broken")
    assert errors and "shuffleTracking" in " ".join(e.message + " ".join(e.details) for e in errors)


@pytest.mark.skipif(shutil.which("opa", path=str(REPO / ".tools/bin")) is None, reason="run `make go-tools` first")
def test_applications_pass_the_rego_policies(applications, tmp_path):
    from tools.gate import policy

    for cluster in cluster_names():
        config = policy.load_cluster_config(cluster)
        violations = policy.evaluate(cluster, config, list(applications.values()), tmp_path / cluster)
        assert not violations, [f"{v.rule}: {v.message}" for v in violations]


def rendered_etl_template(overlay: str) -> dict:
    from tools.gate.render import render

    objects = render(REPO / "apps" / "airflow" / "overlays" / overlay)
    return next(o for o in objects if o["kind"] == "ScheduledSparkApplication")["spec"]["template"]


OVERLAYS = sorted(p.parent.name for p in (REPO / "apps/airflow/overlays").glob("*/kustomization.yaml"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_dags_submit_what_the_cluster_renders_as_its_etl_template(overlay):
    """One template: what a DAG submits is the overlay's rendered etl-template with only the
    per-task fields set, so an overlay patch (prod: 20 executors, its bucket) reaches the jobs."""
    from mlops_dags import settings, spark_app

    etl = settings.EtlSettings("kubernetes", "s3a://x", IMAGE, "s3a://x/events", "https://s3.example", 4, "a@b", overlay)
    submitted = spark_app.application_body("features", ["--date", "2026-11-27"], etl)["spec"]
    expected = copy.deepcopy(rendered_etl_template(overlay))
    spark_app.dynamic_allocation_as_conf(expected)  # the submitted form of the same values
    per_task = {"image", "arguments"}
    assert {k: v for k, v in submitted.items() if k not in per_task | {"sparkConf", "driver", "executor"}} == \
        {k: v for k, v in expected.items() if k not in per_task | {"sparkConf", "driver", "executor"}}
    assert {**submitted["sparkConf"], "spark.eventLog.dir": None, "spark.hadoop.fs.s3a.endpoint": None} == \
        {**expected["sparkConf"], "spark.eventLog.dir": None, "spark.hadoop.fs.s3a.endpoint": None}
    for role in ("driver", "executor"):
        labels = dict(submitted[role]["labels"])
        assert labels.pop("app.kubernetes.io/component") == "etl-features"
        assert {**submitted[role], "labels": labels} == expected[role]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_operator_accepts_what_the_dags_submit(overlay):
    """The provider's own check, run before it creates the SparkApplication. It refused the
    template's block as such (minExecutors 0); the submitted form keeps min 0 and the max."""
    from airflow.providers.cncf.kubernetes.operators.custom_object_launcher import SparkJobSpec
    from airflow.sdk.exceptions import AirflowException

    from mlops_dags import settings, spark_app

    etl = settings.EtlSettings("kubernetes", "s3a://x", IMAGE, "s3a://x/events", "https://s3.example", 4, "a@b", overlay)
    body = spark_app.application_body("features", ["--date", "2026-11-27"], etl)
    SparkJobSpec(**copy.deepcopy(body))
    template = spark_app.template_for(overlay)["dynamicAllocation"]
    conf = body["spec"]["sparkConf"]
    assert conf["spark.dynamicAllocation.maxExecutors"] == str(template["maxExecutors"])
    assert conf["spark.dynamicAllocation.minExecutors"] == str(template["minExecutors"]) == "0"
    with pytest.raises(AirflowException, match="min/max value for dynamic allocation"):
        SparkJobSpec(**{**copy.deepcopy(body), "spec": {**body["spec"], "dynamicAllocation": template}})


def test_prod_jobs_may_use_twenty_executors_and_dev_jobs_fewer():
    from mlops_dags import spark_app

    assert spark_app.template_for("prod")["dynamicAllocation"]["maxExecutors"] == 20
    assert spark_app.template_for("dev")["dynamicAllocation"]["maxExecutors"] < 20


def test_the_merge_follows_kustomize_for_maps_lists_and_deletions():
    from mlops_dags.spark_app import _merge

    base = {"a": {"x": 1, "y": 2}, "l": [1, 2], "gone": 1}
    assert _merge(base, {"a": {"y": 3}, "l": [3], "gone": None}) == {"a": {"x": 1, "y": 3}, "l": [3]}
    assert base == {"a": {"x": 1, "y": 2}, "l": [1, 2], "gone": 1}
