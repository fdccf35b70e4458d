# Pod security: what every container must declare (Pod Security Standards "restricted", plus resources).
package platform

sc(x) := object.get(x.c, "securityContext", {})

pod_sc(x) := object.get(x.pod, "securityContext", {})

runs_as_non_root(x) if {
	sc(x).runAsNonRoot == true
	not sc(x).runAsUser == 0
}

runs_as_non_root(x) if {
	pod_sc(x).runAsNonRoot == true
	not sc(x).runAsNonRoot == false
	not sc(x).runAsUser == 0
}

violations contains v if {
	some x in containers
	not runs_as_non_root(x)
	v := violation(x, "container-nonroot", sprintf("container %q may run as root", [x.c.name]),
		"set securityContext.runAsNonRoot: true (pod or container) and a non-zero runAsUser")
}

violations contains v if {
	some x in containers
	not sc(x).allowPrivilegeEscalation == false
	v := violation(x, "container-no-privilege-escalation",
		sprintf("container %q does not set allowPrivilegeEscalation: false", [x.c.name]),
		"set securityContext.allowPrivilegeEscalation: false on the container")
}

violations contains v if {
	some x in containers
	sc(x).privileged == true
	v := violation(x, "container-not-privileged", sprintf("container %q is privileged", [x.c.name]),
		"remove securityContext.privileged; ask for a single capability instead")
}

violations contains v if {
	some x in containers
	not "ALL" in object.get(sc(x), ["capabilities", "drop"], [])
	v := violation(x, "container-drop-all-capabilities",
		sprintf("container %q does not drop ALL capabilities", [x.c.name]),
		"set securityContext.capabilities.drop: [ALL] (add back NET_BIND_SERVICE only if needed)")
}

violations contains v if {
	some x in containers
	some cap in object.get(sc(x), ["capabilities", "add"], [])
	cap != "NET_BIND_SERVICE"
	v := violation(x, "container-drop-all-capabilities",
		sprintf("container %q adds capability %s", [x.c.name, cap]),
		"only NET_BIND_SERVICE may be added back (restricted Pod Security Standard)")
}

# Spark drivers and executors too: Spark mounts its own emptyDir scratch dirs, and /tmp gets one.
violations contains v if {
	some x in containers
	not sc(x).readOnlyRootFilesystem == true
	v := violation(x, "container-readonly-rootfs",
		sprintf("container %q has a writable root filesystem", [x.c.name]),
		"set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where it writes")
}

seccomp_ok(x) if sc(x).seccompProfile.type in {"RuntimeDefault", "Localhost"}

seccomp_ok(x) if {
	pod_sc(x).seccompProfile.type in {"RuntimeDefault", "Localhost"}
	not sc(x).seccompProfile
}

violations contains v if {
	some x in containers
	not seccomp_ok(x)
	v := violation(x, "container-seccomp", sprintf("container %q has no RuntimeDefault seccomp profile", [x.c.name]),
		"set securityContext.seccompProfile.type: RuntimeDefault (pod or container)")
}

# The Cluster Autoscaler and the HPA both work from requests; limits keep a noisy job in its box.
violations contains v if {
	some x in containers
	not x.spark
	some kind in ["requests", "limits"]
	some resource in ["cpu", "memory"]
	not x.c.resources[kind][resource]
	v := violation(x, "container-resources",
		sprintf("container %q has no %s.%s", [x.c.name, kind, resource]),
		"set resources.requests and resources.limits for cpu and memory")
}

violations contains v if {
	some x in containers
	x.spark
	some field in ["cores", "memory", "coreLimit"]
	not x.c.role[field]
	v := violation(x, "container-resources",
		sprintf("Spark %s has no %s", [x.c.name, field]),
		"set cores, coreLimit and memory on both driver and executor")
}
