"""Image builds for the local cluster: Debian-built bases (bases.py) and the buildah builder (build.py)."""
