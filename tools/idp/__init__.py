"""A real local OIDC IdP: Keycloak (Quarkus distribution, `kc.sh start-dev`) with the `mlops` realm.

The realm, its groups, users and clients are code (`realm-mlops.json`, imported at start, plus the
`groups` client scope added through the admin REST API, see `configure`). Every password and client
secret is generated at start-up into `<state>/secrets.json` (mode 0600, under .run/), never into git.

Start/stop is idempotent: the running server is found by its command line (`-Dkc.home.dir=` under
our state dir), not only by a PID file, so `down` also stops a server whose `up` failed half-way.
"""
