"""Tools the Jenkins pipeline calls through `make`: image tag bumps, PR preview, build history.

Importable as `ci_tools` because pytest and `jenkins/jenkins.mk` put `jenkins/` on PYTHONPATH.
(`jenkins/` itself must never become a package: it would shadow python-jenkins.)
"""
