"""Evaluate rendered NetworkPolicies the way the Kubernetes API defines them, for one connection.

A pod is isolated in a direction as soon as any policy selects it with that policyType; then a
connection is allowed only if some rule of a selecting policy admits the peer and the port. A
connection between two pods needs both the source's egress and the destination's ingress.
ipBlock peers never match pod-network pods here (the API leaves pod IPs in ipBlocks
implementation-defined), so a test passes only on explicit pod/namespace selectors; a host-network
pod is reached on its node's IP, which only an ipBlock of 0.0.0.0/0 is sure to contain.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Pod:
    namespace: str
    labels: dict[str, str]
    # container name -> {port name (or str(number) if unnamed) -> (number, protocol)}
    containers: dict[str, dict[str, tuple[int, str]]] = field(default_factory=dict)
    name: str = ""
    host_network: bool = False  # reached on the node's IP: only ipBlock peers can match it

    @property
    def named_ports(self) -> dict[str, int]:
        return {name: number for ports in self.containers.values() for name, (number, _) in ports.items()}

    def namespace_labels(self, namespaces: dict[str, dict[str, str]]) -> dict[str, str]:
        # The API server sets kubernetes.io/metadata.name on every namespace.
        return {**namespaces.get(self.namespace, {}), "kubernetes.io/metadata.name": self.namespace}


def selector_matches(selector: dict | None, labels: dict[str, str]) -> bool:
    """metav1.LabelSelector semantics; an empty selector matches everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        ok = {"In": present and labels.get(key) in values,
              "NotIn": not present or labels.get(key) not in values,
              "Exists": present,
              "DoesNotExist": not present}[op]
        if not ok:
            return False
    return True


def _peer_matches(peer: dict, policy_namespace: str, other: Pod, namespaces: dict) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        return other.host_network and block.get("cidr") == "0.0.0.0/0" and not block.get("except")
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], other.namespace_labels(namespaces)):
            return False
    elif other.namespace != policy_namespace:
        return False  # a podSelector alone means the policy's own namespace
    return selector_matches(peer.get("podSelector"), other.labels)


def _port_matches(rule_ports: list | None, port: int, protocol: str, target: Pod) -> bool:
    if not rule_ports:
        return True
    for rule_port in rule_ports:
        if rule_port.get("protocol", "TCP") != protocol:
            continue
        number = rule_port.get("port")
        if number is None:
            return True
        if isinstance(number, str):
            number = target.named_ports.get(number)
        if number is not None and number <= port <= rule_port.get("endPort", number):
            return True
    return False


def _policy_types(spec: dict) -> list[str]:
    # Unset policyTypes: Ingress always, Egress only when egress rules are given.
    return spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"])


def _direction_allows(policies, direction: str, pod: Pod, peer: Pod, port: int, protocol: str,
                      port_owner: Pod, namespaces: dict) -> bool:
    policy_type, rules_key, peers_key = {"Ingress": ("Ingress", "ingress", "from"),
                                         "Egress": ("Egress", "egress", "to")}[direction]
    selecting = [p for p in policies
                 if p["metadata"]["namespace"] == pod.namespace
                 and policy_type in _policy_types(p["spec"])
                 and selector_matches(p["spec"].get("podSelector"), pod.labels)]
    if not selecting:
        return True  # not isolated in this direction
    for policy in selecting:
        for rule in policy["spec"].get(rules_key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(_peer_matches(p, policy["metadata"]["namespace"], peer, namespaces) for p in peers)
            if peer_ok and _port_matches(rule.get("ports"), port, protocol, port_owner):
                return True
    return False


def allowed(policies, source: Pod, target: Pod, port: int, protocol: str = "TCP",
            namespaces: dict[str, dict[str, str]] | None = None) -> bool:
    """Whether `source` may open `protocol`/`port` on `target` under `policies` (both ends)."""
    namespaces = namespaces or {}
    return (_direction_allows(policies, "Egress", source, target, port, protocol, target, namespaces)
            and _direction_allows(policies, "Ingress", target, source, port, protocol, target, namespaces))


def admits(policies, target: Pod, source: Pod, port: int, protocol: str = "TCP",
           namespaces: dict[str, dict[str, str]] | None = None) -> bool:
    """Whether `target`'s ingress policies alone let `source` in (the source's egress aside)."""
    return _direction_allows(policies, "Ingress", target, source, port, protocol, target, namespaces or {})
