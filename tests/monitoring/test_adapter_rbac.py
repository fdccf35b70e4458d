"""The HPA controller may read exactly the custom metrics prometheus-adapter serves: the ClusterRole
names each `pods/<metric>` subresource instead of `*`, so adding a metric to the adapter config without
granting it (or granting one that does not exist) fails here."""
from __future__ import annotations

import yaml
from monitoring_support import BASE


def test_custom_metrics_reader_names_each_served_pod_metric():
    served = {rule["name"]["as"] for rule in yaml.safe_load((BASE / "prometheus-adapter" / "config.yaml").read_text())["rules"]
              if rule["resources"]["overrides"].get("pod", {}).get("resource") == "pod"}
    docs = list(yaml.safe_load_all((BASE / "prometheus-adapter" / "prometheus-adapter.yaml").read_text()))
    role = next(d for d in docs
                if d and d["kind"] == "ClusterRole" and d["metadata"]["name"] == "monitoring-custom-metrics-reader")
    (rule,) = role["rules"]
    assert rule["apiGroups"] == ["custom.metrics.k8s.io"]
    assert set(rule["resources"]) == {f"pods/{name}" for name in served}
    assert served, "the adapter serves at least the spark-worker HPA's metric"
    assert set(rule["verbs"]) <= {"get", "list", "watch"}
