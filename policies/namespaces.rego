# Every namespace of ours is locked down: Pod Security admission and a default-deny NetworkPolicy.
package platform

pss_label := "pod-security.kubernetes.io/enforce"

violations contains v if {
	some item in input.objects
	item.object.kind == "Namespace"
	level := object.get(item.object, ["metadata", "labels", pss_label], "")
	not level in {"restricted", "baseline"}
	v := object_violation(item, "namespace-pss-label",
		sprintf("namespace has %s=%q", [pss_label, level]),
		sprintf("label the namespace %s: restricted (or baseline with an exception and a reason)", [pss_label]))
}

default_deny(policy) if {
	policy.kind == "NetworkPolicy"
	object.get(policy.spec, "podSelector", {}) == {}
	{"Ingress", "Egress"} == {t | some t in object.get(policy.spec, "policyTypes", [])}
	count(object.get(policy.spec, "ingress", [])) == 0
	count(object.get(policy.spec, "egress", [])) == 0
}

has_default_deny(namespace) if {
	some item in input.objects
	default_deny(item.object)
	item.object.metadata.namespace == namespace
}

violations contains v if {
	some item in input.objects
	item.object.kind == "Namespace"
	not has_default_deny(item.object.metadata.name)
	v := object_violation(item, "namespace-default-deny",
		"namespace has no default-deny NetworkPolicy",
		"add a NetworkPolicy with podSelector: {}, policyTypes: [Ingress, Egress] and no rules, then allow what must talk")
}
