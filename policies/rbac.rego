# Least privilege: what our Roles grant, what is bound cluster-wide, which pods get an API token,
# and that long-running containers can be health-checked.
package platform

# ---- RBAC ----

violations contains v if {
	some item in input.objects
	item.object.kind in {"Role", "ClusterRole"}
	some i, rule in nn(object.get(item.object, "rules", []), [])
	some field in ["verbs", "resources", "apiGroups"]
	"*" in nn(object.get(rule, field, []), [])
	v := object_violation(
		item, "rbac-no-wildcards", sprintf("rules[%d].%s contains \"*\"", [i, field]),
		sprintf("name the %s it needs; a wildcard also grants whatever is added later", [field]),
	)
}

reads_all_secrets(rule) if {
	some group in nn(object.get(rule, "apiGroups", []), [])
	group in {"", "*"}
	some resource in nn(object.get(rule, "resources", []), [])
	resource in {"secrets", "*"}
	some verb in nn(object.get(rule, "verbs", []), [])
	verb in {"get", "list", "watch", "*"}
	count(nn(object.get(rule, "resourceNames", []), [])) == 0
}

cluster_role_bindings_of(name) := {b.object.metadata.name |
	some b in input.objects
	b.object.kind == "ClusterRoleBinding"
	b.object.roleRef.kind == "ClusterRole"
	b.object.roleRef.name == name
}

violations contains v if {
	some item in input.objects
	item.object.kind == "ClusterRole"
	bindings := cluster_role_bindings_of(item.object.metadata.name)
	count(bindings) > 0
	some i, rule in nn(object.get(item.object, "rules", []), [])
	reads_all_secrets(rule)
	v := object_violation(
		item, "rbac-no-cluster-secret-read",
		sprintf("rules[%d] lets it read Secrets in every namespace (bound by ClusterRoleBinding %s)", [i, concat(", ", sort(bindings))]),
		"grant Secret access with a Role and RoleBinding in the namespace whose Secrets it needs",
	)
}

# Kubernetes' own aggregated roles that read Secrets: bound cluster-wide they read every Secret.
builtin_secret_readers := {"admin", "edit"}

violations contains v if {
	some item in input.objects
	item.object.kind == "ClusterRoleBinding"
	item.object.roleRef.kind == "ClusterRole"
	item.object.roleRef.name in builtin_secret_readers
	v := object_violation(
		item, "rbac-no-cluster-secret-read",
		sprintf("binds the built-in ClusterRole %s cluster-wide, which reads every Secret", [item.object.roleRef.name]),
		"bind it with a RoleBinding in the namespaces where it is needed, or write a Role with only what it uses",
	)
}

violations contains v if {
	some item in input.objects
	item.object.kind in {"RoleBinding", "ClusterRoleBinding"}
	item.object.roleRef.kind == "ClusterRole"
	item.object.roleRef.name == "cluster-admin"
	subjects := [sprintf("%s %s", [s.kind, s.name]) | some s in nn(object.get(item.object, "subjects", []), [])]
	v := object_violation(
		item, "rbac-no-cluster-admin",
		sprintf("binds cluster-admin to %s", [concat(", ", subjects)]),
		"write a Role/ClusterRole with the verbs and resources it needs and bind that instead",
	)
}

# ---- service-account tokens ----
# A pod gets an API token only if it calls the Kubernetes API. That is decided by what it may do:
# its service account is a subject of one of our RoleBindings/ClusterRoleBindings, or it is listed
# under kubernetesApiClients ("namespace/serviceaccount") in policies/config/<cluster>.yaml (for
# a pod that calls the API with permissions granted outside this repository). Every other pod sets
# automountServiceAccountToken: false, on the pod or on its ServiceAccount.

bound_service_accounts contains [ns, s.name] if {
	some b in input.objects
	b.object.kind in {"RoleBinding", "ClusterRoleBinding"}
	some s in nn(object.get(b.object, "subjects", []), [])
	s.kind == "ServiceAccount"
	ns := object.get(s, "namespace", object.get(b.object.metadata, "namespace", ""))
}

api_client(ns, sa) if [ns, sa] in bound_service_accounts

api_client(ns, sa) if concat("/", [ns, sa]) in object.get(input.config, "kubernetesApiClients", [])

pod_service_account(spec) := sa if {
	sa := object.get(spec, "serviceAccountName", object.get(spec, "serviceAccount", ""))
	sa != ""
} else := "default"

service_account_automount(ns, sa) := value if {
	some item in input.objects
	item.object.kind == "ServiceAccount"
	item.object.metadata.name == sa
	object.get(item.object.metadata, "namespace", "") == ns
	value := object.get(item.object, "automountServiceAccountToken", true)
} else := true

token_mounted(p, _) if p.spec.automountServiceAccountToken == true

token_mounted(p, sa) if {
	object.get(p.spec, "automountServiceAccountToken", null) == null
	service_account_automount(p.namespace, sa) != false
}

violations contains v if {
	some p in pods
	p.role == "" # Spark pods get their service account from the operator and the driver
	sa := pod_service_account(p.spec)
	not api_client(p.namespace, sa)
	token_mounted(p, sa)
	v := {
		"index": p.index, "rule": "serviceaccount-token-not-mounted", "container": "",
		"msg": sprintf("mounts a token of ServiceAccount %s/%s, which no RoleBinding of ours grants anything", [p.namespace, sa]),
		"hint": concat("", [
			"set automountServiceAccountToken: false on the pod (or its ServiceAccount); if it does call the API, ",
			"bind it a Role, or list it under kubernetesApiClients in policies/config/<cluster>.yaml",
		]),
	}
}

# ---- probes ----
# Long-running containers (Deployments, StatefulSets, DaemonSets; native sidecars too) need a
# liveness and a readiness probe: the upstream projects we run all define health endpoints or
# commands (policies/README.md lists them); where one does not, exceptions.yaml says so.

long_running_kinds := {"Deployment", "StatefulSet", "DaemonSet"}

long_running_containers(spec) := array.concat(
	nn(object.get(spec, "containers", []), []),
	[c | some c in nn(object.get(spec, "initContainers", []), []); c.restartPolicy == "Always"],
)

violations contains v if {
	some item in input.objects
	item.object.kind in long_running_kinds
	some c in long_running_containers(pod_spec(item.object))
	some probe in ["livenessProbe", "readinessProbe"]
	object.get(c, probe, null) == null
	x := {"index": item.index, "c": c}
	v := violation(
		x, "container-probes", sprintf("container %q has no %s", [c.name, probe]),
		"add the upstream project's health check (HTTP endpoint or command) as livenessProbe and readinessProbe",
	)
}
