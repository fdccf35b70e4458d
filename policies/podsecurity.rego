# The Kubernetes Pod Security Standards (baseline and restricted, policy version v1.34 = latest for
# the pinned API server), one check per control, evaluated on every pod an object yields (workload
# pod templates, Pods, the task pod template embedded in a ConfigMap, SparkApplication driver and
# executor pods) at the level its namespace declares (pod-security.kubernetes.io/enforce).
#
# The gate runs Kubernetes' own implementation next to these rules (tools/psa-oracle) and fails when
# the two disagree on any pod: `pss_verdicts` is what is compared.
#
# What is reported:
# - the controls in `pss_floor` (non-root, uid != 0, no privilege escalation, not privileged,
#   capabilities, seccomp) on every container of ours, whatever the namespace level: the platform's
#   own floor, which the rule ids container-* have always enforced;
# - every other control where the namespace's level includes it (baseline: host namespaces, ...;
#   restricted adds volume types).
package platform

pss_label := "pod-security.kubernetes.io/enforce"

pss_version_label := "pod-security.kubernetes.io/enforce-version"

# ---- levels ----

namespace_labels[name] := labels if {
	some item in input.objects
	item.object.kind == "Namespace"
	name := item.object.metadata.name
	labels := nn(object.get(item.object.metadata, "labels", {}), {})
}

# Like the admission plugin: a valid label decides; an invalid one fails closed (restricted). A
# namespace that is not rendered, or carries no label, is checked at restricted (the strictest).
pss_level(ns) := level if {
	labels := namespace_labels[ns]
	level := labels[pss_label]
	level in {"privileged", "baseline", "restricted"}
	valid_pss_version(object.get(labels, pss_version_label, "latest"))
} else := "restricted"

valid_pss_version(v) if v == "latest"

valid_pss_version(v) if regex.match(`^v1\.(0|[1-9][0-9]*)$`, v)

pss_baseline_checks := {
	"windowsHostProcess", "hostNamespaces", "privileged", "capabilities_baseline", "hostPathVolumes",
	"hostPorts", "hostProbesAndHostLifecycle", "appArmorProfile", "seLinuxOptions", "procMount",
	"seccompProfile_baseline", "sysctls",
}

pss_restricted_checks := {
	"restrictedVolumes", "allowPrivilegeEscalation", "runAsNonRoot", "runAsUser",
	"seccompProfile_restricted", "capabilities_restricted",
}

# restricted replaces these baseline checks with its stricter versions
pss_overridden_at_restricted := {"hostPathVolumes", "seccompProfile_baseline", "capabilities_baseline"}

pss_applies(check, "baseline") if check in pss_baseline_checks

pss_applies(check, "restricted") if {
	check in pss_baseline_checks
	not check in pss_overridden_at_restricted
}

pss_applies(check, "restricted") if check in pss_restricted_checks

pss_floor := {
	"privileged", "allowPrivilegeEscalation", "runAsNonRoot", "runAsUser",
	"seccompProfile_restricted", "capabilities_restricted",
}

# ---- pods ----

nn(x, _) := x if x != null

nn(null, d) := d

pod_template(obj) := {"metadata": object.get(obj, "metadata", {}), "spec": obj.spec} if obj.kind == "Pod"

pod_template(obj) := obj.spec.template if obj.kind in pod_template_kinds

pod_template(obj) := obj.spec.jobTemplate.spec.template if obj.kind == "CronJob"

pod_template(obj) := obj.template if obj.kind == "PodTemplate"

# {"index", "role", "namespace", "meta", "spec"}; role is "" except for Spark's driver/executor.
pods contains {"index": item.index, "role": "", "namespace": ns, "meta": meta, "spec": spec} if {
	some item in input.objects
	tmpl := pod_template(item.object)
	spec := nn(object.get(tmpl, "spec", {}), {})
	meta := nn(object.get(tmpl, "metadata", {}), {})
	ns := object.get(item.object.metadata, "namespace", "")
}

pods contains {"index": item.index, "role": role, "namespace": ns, "meta": pod.metadata, "spec": pod.spec} if {
	some item in input.objects
	app := spark_app_spec(item.object)
	some role in ["driver", "executor"]
	pod := spark_pod(app, role)
	ns := object.get(item.object.metadata, "namespace", "")
}

# The pod the Spark operator (v2) makes for a role, as far as the fields map (the same mapping as
# tools/psa-oracle/main.go sparkPod): podSecurityContext, the Spark container's securityContext,
# lifecycle and volumeMounts, sidecars, initContainers, hostNetwork, labels/annotations, and the
# application's volumes that the pod mounts.
spark_pod(app, role) := {"metadata": meta, "spec": spec} if {
	r := nn(object.get(app, role, {}), {})
	main := object.union(
		{"name": concat("", ["spark-kubernetes-", role])},
		{f: r[f] | some f in ["securityContext", "lifecycle", "volumeMounts"]; f in object.keys(r)},
	)
	containers := array.concat([main], nn(object.get(r, "sidecars", []), []))
	mounted := {m.name | some c in containers; some m in nn(object.get(c, "volumeMounts", []), [])}
	volumes := [v | some v in nn(object.get(app, "volumes", []), []); v.name in mounted]
	spec := object.union(
		{f: r[k] | some [k, f] in [["initContainers", "initContainers"], ["podSecurityContext", "securityContext"], ["hostNetwork", "hostNetwork"]]; k in object.keys(r)},
		{"containers": containers, "volumes": volumes},
	)
	meta := {f: r[f] | some f in ["labels", "annotations"]; f in object.keys(r)}
}

pod_containers(spec) := array.concat(
	array.concat(nn(object.get(spec, "initContainers", []), []), nn(object.get(spec, "containers", []), [])),
	nn(object.get(spec, "ephemeralContainers", []), []),
)

psc(p) := nn(object.get(p.spec, "securityContext", {}), {})

csc(c) := nn(object.get(c, "securityContext", {}), {})

windows_pod(p) if p.spec.os.name == "windows"

# ---- the checks: pss_fail contains {"index", "role", "namespace", "check", "container", "msg"} ----

fail(p, check, container, msg) := {
	"index": p.index, "role": p.role, "namespace": p.namespace, "check": check,
	"container": container, "msg": msg,
}

# HostProcess
pss_fail contains fail(p, "windowsHostProcess", "", "pod sets securityContext.windowsOptions.hostProcess: true") if {
	some p in pods
	psc(p).windowsOptions.hostProcess == true
}

pss_fail contains fail(p, "windowsHostProcess", c.name, sprintf("container %q sets windowsOptions.hostProcess: true", [c.name])) if {
	some p in pods
	some c in pod_containers(p.spec)
	csc(c).windowsOptions.hostProcess == true
}

# Host namespaces
pss_fail contains fail(p, "hostNamespaces", "", sprintf("pod shares the host's namespace: %s: true", [field])) if {
	some p in pods
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	p.spec[field] == true
}

# Privileged containers
pss_fail contains fail(p, "privileged", c.name, sprintf("container %q is privileged", [c.name])) if {
	some p in pods
	some c in pod_containers(p.spec)
	csc(c).privileged == true
}

# Capabilities (baseline): only the container runtime's default set may be added
pss_default_capabilities := {
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
	"SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

pss_fail contains fail(p, "capabilities_baseline", c.name, sprintf("container %q adds non-default capability %s", [c.name, cap])) if {
	some p in pods
	some c in pod_containers(p.spec)
	some cap in nn(object.get(csc(c), ["capabilities", "add"], []), [])
	not cap in pss_default_capabilities
}

# HostPath volumes
pss_fail contains fail(p, "hostPathVolumes", "", sprintf("volume %q is a hostPath volume", [v.name])) if {
	some p in pods
	some v in nn(object.get(p.spec, "volumes", []), [])
	object.get(v, "hostPath", null) != null
}

# Host ports
pss_fail contains fail(p, "hostPorts", c.name, sprintf("container %q uses hostPort %v", [c.name, port.hostPort])) if {
	some p in pods
	some c in pod_containers(p.spec)
	some port in nn(object.get(c, "ports", []), [])
	not object.get(port, "hostPort", 0) in {0, null}
}

# Host probes and lifecycle hooks (v1.34+): no `host` in httpGet/tcpSocket handlers
pss_fail contains fail(p, "hostProbesAndHostLifecycle", c.name, sprintf("container %q: %s.%s.host is %q", [c.name, where, handler, host])) if {
	some p in pods
	some c in pod_containers(p.spec)
	some [where, h] in [
		["livenessProbe", object.get(c, "livenessProbe", null)],
		["readinessProbe", object.get(c, "readinessProbe", null)],
		["startupProbe", object.get(c, "startupProbe", null)],
		["lifecycle.postStart", object.get(c, ["lifecycle", "postStart"], null)],
		["lifecycle.preStop", object.get(c, ["lifecycle", "preStop"], null)],
	]
	h != null
	some handler in ["httpGet", "tcpSocket"]
	host := object.get(h, [handler, "host"], "")
	not host in {"", null}
}

# AppArmor
pss_apparmor_types := {"RuntimeDefault", "Localhost"}

pss_fail contains fail(p, "appArmorProfile", "", sprintf("pod sets AppArmor profile type %q", [object.get(profile, "type", "")])) if {
	some p in pods
	profile := object.get(psc(p), "appArmorProfile", null)
	profile != null
	not object.get(profile, "type", "") in pss_apparmor_types
}

pss_fail contains fail(p, "appArmorProfile", c.name, sprintf("container %q sets AppArmor profile type %q", [c.name, object.get(profile, "type", "")])) if {
	some p in pods
	some c in pod_containers(p.spec)
	profile := object.get(csc(c), "appArmorProfile", null)
	profile != null
	not object.get(profile, "type", "") in pss_apparmor_types
}

pss_fail contains fail(p, "appArmorProfile", "", sprintf("pod annotation %s=%q", [key, value])) if {
	some p in pods
	some key, value in nn(object.get(p.meta, "annotations", {}), {})
	startswith(key, "container.apparmor.security.beta.kubernetes.io/")
	not value == ""
	not value == "runtime/default"
	not startswith(value, "localhost/")
}

# SELinux
pss_selinux_types := {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}

selinux_bad(opts) if not object.get(opts, "type", "") in pss_selinux_types

selinux_bad(opts) if object.get(opts, "user", "") != ""

selinux_bad(opts) if object.get(opts, "role", "") != ""

pss_fail contains fail(p, "seLinuxOptions", "", "pod sets a forbidden seLinuxOptions type, user or role") if {
	some p in pods
	opts := object.get(psc(p), "seLinuxOptions", null)
	opts != null
	selinux_bad(opts)
}

pss_fail contains fail(p, "seLinuxOptions", c.name, sprintf("container %q sets a forbidden seLinuxOptions type, user or role", [c.name])) if {
	some p in pods
	some c in pod_containers(p.spec)
	opts := object.get(csc(c), "seLinuxOptions", null)
	opts != null
	selinux_bad(opts)
}

# /proc mount type
pss_fail contains fail(p, "procMount", c.name, sprintf("container %q sets procMount: %v", [c.name, mount])) if {
	some p in pods
	some c in pod_containers(p.spec)
	mount := object.get(csc(c), "procMount", null)
	mount != null
	mount != "Default"
}

# Seccomp (baseline): an explicit profile must be RuntimeDefault or Localhost
pss_seccomp_types := {"RuntimeDefault", "Localhost"}

pss_fail contains fail(p, "seccompProfile_baseline", "", sprintf("pod sets seccomp profile type %q", [object.get(profile, "type", "")])) if {
	some p in pods
	profile := object.get(psc(p), "seccompProfile", null)
	profile != null
	not object.get(profile, "type", "") in pss_seccomp_types
}

pss_fail contains fail(p, "seccompProfile_baseline", c.name, sprintf("container %q sets seccomp profile type %q", [c.name, object.get(profile, "type", "")])) if {
	some p in pods
	some c in pod_containers(p.spec)
	profile := object.get(csc(c), "seccompProfile", null)
	profile != null
	not object.get(profile, "type", "") in pss_seccomp_types
}

# Sysctls: only the safe, namespaced set
pss_safe_sysctls := {
	"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
	"net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
}

pss_fail contains fail(p, "sysctls", "", sprintf("pod sets sysctl %s, which is not in the safe set", [s.name])) if {
	some p in pods
	some s in nn(object.get(psc(p), "sysctls", []), [])
	not s.name in pss_safe_sysctls
}

# Volume types (restricted)
pss_allowed_volume_sources := {
	"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim",
	"projected", "secret",
}

allowed_volume(v) if {
	some source in pss_allowed_volume_sources
	object.get(v, source, null) != null
}

pss_fail contains fail(p, "restrictedVolumes", "", sprintf("volume %q uses %v, which restricted does not allow", [v.name, kinds])) if {
	some p in pods
	some v in nn(object.get(p.spec, "volumes", []), [])
	not allowed_volume(v)
	kinds := [k | some k, x in v; k != "name"; x != null]
}

# Privilege escalation (restricted; Windows pods are exempt)
pss_fail contains fail(p, "allowPrivilegeEscalation", c.name, sprintf("container %q does not set allowPrivilegeEscalation: false", [c.name])) if {
	some p in pods
	not windows_pod(p)
	some c in pod_containers(p.spec)
	not csc(c).allowPrivilegeEscalation == false
}

# Running as non-root (restricted)
pss_fail contains fail(p, "runAsNonRoot", "", "pod sets runAsNonRoot: false, its containers may run as root") if {
	some p in pods
	psc(p).runAsNonRoot == false
}

pss_fail contains fail(p, "runAsNonRoot", c.name, sprintf("container %q may run as root (runAsNonRoot: false)", [c.name])) if {
	some p in pods
	some c in pod_containers(p.spec)
	csc(c).runAsNonRoot == false
}

pss_fail contains fail(p, "runAsNonRoot", c.name, sprintf("container %q may run as root (runAsNonRoot is not true on the pod or the container)", [c.name])) if {
	some p in pods
	some c in pod_containers(p.spec)
	object.get(csc(c), "runAsNonRoot", null) == null
	not psc(p).runAsNonRoot == true
}

# Running as a non-root user (restricted): runAsUser must not be 0
pss_fail contains fail(p, "runAsUser", "", "pod sets runAsUser: 0 (root)") if {
	some p in pods
	psc(p).runAsUser == 0
}

pss_fail contains fail(p, "runAsUser", c.name, sprintf("container %q sets runAsUser: 0 (root)", [c.name])) if {
	some p in pods
	some c in pod_containers(p.spec)
	csc(c).runAsUser == 0
}

# Seccomp (restricted): RuntimeDefault or Localhost on the pod, or on every container
pod_seccomp_ok(p) if psc(p).seccompProfile.type in pss_seccomp_types

pss_fail contains fail(p, "seccompProfile_restricted", "", sprintf("pod sets seccomp profile type %q", [object.get(profile, "type", "")])) if {
	some p in pods
	not windows_pod(p)
	profile := object.get(psc(p), "seccompProfile", null)
	profile != null
	not object.get(profile, "type", "") in pss_seccomp_types
}

pss_fail contains fail(p, "seccompProfile_restricted", c.name, sprintf("container %q sets seccomp profile type %q, not RuntimeDefault", [c.name, object.get(profile, "type", "")])) if {
	some p in pods
	not windows_pod(p)
	some c in pod_containers(p.spec)
	profile := object.get(csc(c), "seccompProfile", null)
	profile != null
	not object.get(profile, "type", "") in pss_seccomp_types
}

pss_fail contains fail(p, "seccompProfile_restricted", c.name, sprintf("container %q has no RuntimeDefault seccomp profile (pod or container)", [c.name])) if {
	some p in pods
	not windows_pod(p)
	some c in pod_containers(p.spec)
	object.get(csc(c), "seccompProfile", null) == null
	not pod_seccomp_ok(p)
}

# Capabilities (restricted): drop ALL, add back NET_BIND_SERVICE at most
pss_fail contains fail(p, "capabilities_restricted", c.name, sprintf("container %q does not drop ALL capabilities", [c.name])) if {
	some p in pods
	not windows_pod(p)
	some c in pod_containers(p.spec)
	not "ALL" in nn(object.get(csc(c), ["capabilities", "drop"], []), [])
}

pss_fail contains fail(p, "capabilities_restricted", c.name, sprintf("container %q adds capability %s", [c.name, cap])) if {
	some p in pods
	not windows_pod(p)
	some c in pod_containers(p.spec)
	some cap in nn(object.get(csc(c), ["capabilities", "add"], []), [])
	cap != "NET_BIND_SERVICE"
}

# ---- verdicts (compared with the oracle) and findings ----

pss_pods contains {"index": p.index, "role": p.role, "level": pss_level(p.namespace)} if some p in pods

pss_verdicts contains {"index": f.index, "role": f.role, "check": f.check} if {
	some f in pss_fail
	pss_applies(f.check, pss_level(f.namespace))
}

pss_reported(check) := {f |
	some f in pss_fail
	f.check == check
	pss_reportable(f)
}

pss_reportable(f) if f.check in pss_floor

pss_reportable(f) if pss_applies(f.check, pss_level(f.namespace))

pss_violation(f, rule, hint) := {
	"index": f.index,
	"rule": rule,
	"container": f.container,
	"msg": pss_msg(f),
	"hint": hint,
}

pss_msg(f) := concat("", [pss_role_prefix(f), f.msg, pss_level_note(f)])

pss_role_prefix(f) := "" if f.role == ""

pss_role_prefix(f) := sprintf("%s pod: ", [f.role]) if f.role != ""

# level-dependent controls say which level asked for them
pss_level_note(f) := "" if f.check in pss_floor

pss_level_note(f) := sprintf(" (Pod Security %s, namespace %q)", [pss_level(f.namespace), f.namespace]) if not f.check in pss_floor

violations contains pss_violation(f, "pss-host-process", "remove securityContext.windowsOptions.hostProcess") if some f in pss_reported("windowsHostProcess")

violations contains pss_violation(f, "pss-host-namespaces", "remove hostNetwork/hostPID/hostIPC, or run it in a namespace with an exception (see node-exporter)") if some f in pss_reported("hostNamespaces")

violations contains pss_violation(f, "container-not-privileged", "remove securityContext.privileged; ask for a single capability instead") if some f in pss_reported("privileged")

violations contains pss_violation(f, "pss-baseline-capabilities", "add only capabilities of the runtime's default set (restricted: NET_BIND_SERVICE only)") if some f in pss_reported("capabilities_baseline")

violations contains pss_violation(f, "pss-host-path-volumes", "use an emptyDir, configMap, secret or PVC instead of a hostPath volume") if some f in pss_reported("hostPathVolumes")

violations contains pss_violation(f, "pss-host-ports", "remove hostPort; expose the port with a Service") if some f in pss_reported("hostPorts")

violations contains pss_violation(f, "pss-probe-host", "remove host from the probe or lifecycle handler (it defaults to the pod IP)") if some f in pss_reported("hostProbesAndHostLifecycle")

violations contains pss_violation(f, "pss-apparmor", "use appArmorProfile.type RuntimeDefault or Localhost (or leave it unset)") if some f in pss_reported("appArmorProfile")

violations contains pss_violation(f, "pss-selinux", "leave seLinuxOptions.user/role unset and use a container_* type") if some f in pss_reported("seLinuxOptions")

violations contains pss_violation(f, "pss-proc-mount", "remove securityContext.procMount (Default)") if some f in pss_reported("procMount")

violations contains pss_violation(f, "pss-seccomp-baseline", "set seccompProfile.type: RuntimeDefault (or Localhost), never Unconfined") if some f in pss_reported("seccompProfile_baseline")

violations contains pss_violation(f, "pss-sysctls", "set only sysctls of the safe set (Pod Security Standards)") if some f in pss_reported("sysctls")

violations contains pss_violation(f, "pss-volume-types", "use configMap, secret, emptyDir, projected, downwardAPI, csi, ephemeral, image or persistentVolumeClaim volumes") if some f in pss_reported("restrictedVolumes")

violations contains pss_violation(f, "container-no-privilege-escalation", "set securityContext.allowPrivilegeEscalation: false on the container") if some f in pss_reported("allowPrivilegeEscalation")

violations contains pss_violation(f, "container-nonroot", "set securityContext.runAsNonRoot: true (pod or container) and a non-zero runAsUser") if some f in pss_reported("runAsNonRoot")

violations contains pss_violation(f, "container-run-as-user", "set runAsUser to the image's non-root uid (never 0), on the pod and the container") if some f in pss_reported("runAsUser")

violations contains pss_violation(f, "container-seccomp", "set securityContext.seccompProfile.type: RuntimeDefault (pod or container)") if some f in pss_reported("seccompProfile_restricted")

violations contains pss_violation(f, "container-drop-all-capabilities", "set securityContext.capabilities.drop: [ALL] (add back NET_BIND_SERVICE only if needed)") if some f in pss_reported("capabilities_restricted")
