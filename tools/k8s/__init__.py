"""A real one-node Kubernetes on this machine (see tools/k8s/README.md)."""
