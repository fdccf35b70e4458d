"""One failure of the gate, and how it is printed for a person."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Finding:
    cluster: str
    unit: str          # the rendered kustomization (repo-relative)
    source: str        # the file the object came from
    object: str        # Kind namespace/name
    rule: str          # policy rule id, "schema", "kustomize" or "yamllint"
    message: str
    hint: str = ""
    details: list[str] = field(default_factory=list)

    def render(self) -> str:
        head = f"FAIL [{self.cluster}] {self.source}: {self.object}: {self.rule}: {self.message}"
        lines = [head] + [f"    {d}" for d in self.details]
        if self.hint:
            lines.append(f"    fix: {self.hint}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return asdict(self)


def object_id(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    name = meta.get("name", "<no name>")
    return f"{obj.get('kind', '<no kind>')} {ns + '/' if ns else ''}{name}"
