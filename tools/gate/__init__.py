"""The static gate: render every cluster with kustomize, then check the rendered objects.

Steps per render unit (``clusters/<env>`` and every ``apps/*/overlays/<env>``):
yamllint on the sources, ``kustomize build``, kubeconform ``-strict`` against the Kubernetes and CRD
JSON schemas in ``.tools/schemas`` (target version and the next minor), then the Rego policies in
``policies/`` through OPA. Every failure names the cluster, the source file, the object and the rule.
"""
