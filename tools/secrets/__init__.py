"""Secret rotation: find who reads a secret in the rendered manifests, then refresh it in a cluster."""
