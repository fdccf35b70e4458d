##@ Local OIDC IdP (Keycloak: realm mlops, groups, users and clients as code; tools/idp)
# IDP_PORT (default 18080), IDP_NETNS=<netns> to run inside the local node's network namespace (binds
# 10.80.0.10 there), IDP_HOSTNAME=<url> to fix the issuer. Passwords: .run/idp/secrets.json (0600).
IDP := cd $(ROOT) && $(PY) -m tools.idp

.PHONY: idp-up
idp-up: venv ## Start the local Keycloak (fetched from Maven once, sha1-checked); prints issuer and users
	@$(IDP) up

.PHONY: idp-down
idp-down: venv ## Stop the local Keycloak (found by command line under .run/idp) and delete its data and secrets
	@$(IDP) down

.PHONY: idp-status
idp-status: venv ## Is the local Keycloak running and answering OIDC discovery (exit 3: not running)
	@$(IDP) status

E2E_TARGETS += e2e-idp
.PHONY: e2e-idp
# The Airflow login test runs Airflow's API server on the local platform's PostgreSQL (localplatform-deps).
e2e-idp: venv localplatform-deps ## Start Keycloak: discovery, each user's password grant and groups claim, refused credentials; a real Airflow (FAB) login of each user through it
	@mkdir -p $(RUN_DIR)/reports
	@cd $(ROOT) && $(PY) -m pytest -m e2e tests/e2e/idp $(PYTEST_ARGS)
