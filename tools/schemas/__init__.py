"""Offline JSON schemas for kubeconform.

Kubernetes schemas come from the locked ``kubernetes-validate`` package; CRD schemas come from the
CRD YAML inside Go modules pinned in ``tools/versions.env`` (fetched with ``go mod download``).
Run as ``python -m tools.schemas`` (``make schemas``).
"""
