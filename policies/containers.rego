# What every container must declare beyond the Pod Security Standards: read-only root, resources.
package platform

sc(x) := object.get(x.c, "securityContext", {})

# The Pod Security controls (non-root, privilege escalation, privileged, capabilities, seccomp and
# the rest) are in podsecurity.rego; these are the platform's own rules on top of them.

# Spark drivers and executors too: Spark mounts its own emptyDir scratch dirs, and /tmp gets one.
violations contains v if {
	some x in containers
	not sc(x).readOnlyRootFilesystem == true
	v := violation(x, "container-readonly-rootfs",
		sprintf("container %q has a writable root filesystem", [x.c.name]),
		"set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where it writes")
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
