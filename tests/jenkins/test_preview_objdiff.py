"""Field-level object diff used by the PR preview."""

from ci_tools.objdiff import diff_objects, format_diff


def deployment(image: str, replicas: int = 1, env=None) -> dict:
    container = {"name": "scheduler", "image": image, "env": env or [{"name": "A", "value": "1"}]}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sched", "namespace": "airflow"},
            "spec": {"replicas": replicas,
                     "template": {"spec": {"containers": [{"name": "sidecar", "image": "s:1"}, container]}}}}


def test_named_list_items_are_matched_by_name():
    old = deployment("a:1")
    new = deployment("a:2", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
    new["spec"]["template"]["spec"]["containers"].reverse()  # order alone is not a change
    lines = format_diff(diff_objects([old], [new]))
    assert lines[0] == "0 added, 0 removed, 1 changed"
    assert "~ changed Deployment.apps airflow/sched" in lines
    assert '      spec.template.spec.containers[name=scheduler].image: "a:1" -> "a:2"' in lines
    assert '      spec.template.spec.containers[name=scheduler].env[name=B]: added {"name": "B", "value": "2"}' in lines
    assert not any("sidecar" in line for line in lines)


def test_secret_values_are_never_printed():
    old = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "c2VjcmV0MQ=="}}
    new = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "c2VjcmV0Mg=="}}
    text = "\n".join(format_diff(diff_objects([old], [new])))
    assert "data.k: (value changed, hidden)" in text
    assert "c2VjcmV0" not in text


def test_multiline_text_shows_a_line_diff():
    def cm(body):
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"f": body}}
    lines = format_diff(diff_objects([cm("a\nb\nc\n")], [cm("a\nB\nc\n")]))
    assert "      data.f: text changed" in lines
    assert "        -b" in lines and "        +B" in lines


def test_added_and_removed_objects():
    def sa(n):
        return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": n, "namespace": "x"}}
    diff = diff_objects([sa("old")], [sa("new")])
    assert format_diff(diff) == ["1 added, 1 removed, 0 changed",
                                 "+ added   ServiceAccount x/new", "- removed ServiceAccount x/old"]


def test_unnamed_list_growth_lists_only_the_new_items():
    def project(dests):
        return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                "metadata": {"name": "p", "namespace": "argocd"}, "spec": {"destinations": dests}}
    a, b, c = ({"namespace": n, "server": "https://kubernetes.default.svc"} for n in ("argocd", "airflow", "monitoring"))
    lines = format_diff(diff_objects([project([a, b])], [project([a, c, b])]))
    assert lines[2:] == ['      spec.destinations[+]: added {"namespace": "monitoring", "server": "https://kubernetes.default.svc"}']
