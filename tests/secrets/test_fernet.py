"""The Fernet re-encryption step's offline checks (its cluster behaviour is in tests/e2e/secrets)."""
from __future__ import annotations

from kubernetes.client.exceptions import ApiException

from tools.gate import paths
from tools.secrets.fernet import _server_message, main


def test_a_deployment_missing_from_the_manifests_exits_2_listing_them(capsys):
    cluster = paths.clusters()[0]
    assert main(["--cluster", cluster, "--deployment", "airflow-schedular"]) == 2
    error = capsys.readouterr().err
    assert f"cluster {cluster}: no Deployment airflow/airflow-schedular" in error
    assert "airflow/airflow-scheduler" in error


def test_without_a_kube_context_it_fails_clearly(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["--cluster", paths.clusters()[0]]) == 1
    assert "no usable kube context" in capsys.readouterr().err


def test_the_servers_reason_is_taken_out_of_a_refused_handshake():
    refused = ApiException(status=0, reason='Handshake status 403 Forbidden -+-+- {"a": "b"} -+-+- '
                                            '{"kind":"Status","message":"pods \\"p\\" is forbidden","code":403}')
    assert _server_message(refused) == 'pods \\"p\\" is forbidden'
    assert _server_message(ApiException(status=0, reason="connection reset")) == "connection reset"
