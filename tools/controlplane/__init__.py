"""Local Kubernetes control plane: build, start/stop, server-side apply of the overlays."""
