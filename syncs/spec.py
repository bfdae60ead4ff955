"""Sync declarations: what an audience model says about where it goes.

An analytics engineer declares syncs in the audience model's dbt YAML (``meta.recur.syncs``);
dbt writes them into ``manifest.json``, and :func:`load_specs` turns them into
:class:`SyncSpec` objects. Example::

    models:
      - name: aud_champions
        config:
          meta:
            recur:
              syncs:
                - destination: hubspot
                  object: contacts
                  match_key: email
                  mode: upsert            # upsert | update | mirror
                  fields: {recur_rfm_segment: rfm_segment}
                  list: "Recur: Champions"
                  holdout: {share: 0.1}   # optional: 10% of people are kept out, never sent
                  frequency_cap: {days: 7}  # optional: not people contacted in the last 7 days

A holdout keeps a share of the audience's people out of the destination, so the warehouse can
compare them with the people who were sent (docs/syncs.md, "Holdout groups"). A person's group is
decided by a hash of the audience, the person (``person``: the audience column, ``user_id`` by
default) and an optional ``salt``: the same person stays in the same group across runs and
rebuilds, and the groups of different audiences are independent.

A frequency cap defers people who were contacted (entered, and were sent, any Recur sync of the
same state file) in the last ``days`` days: they are not sent now, in either group, and are
considered again on each later run (docs/syncs.md, "Frequency caps").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncs.errors import SyncConfigError

MODES = ("upsert", "update", "mirror")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KNOWN_KEYS = {
    "destination", "object", "match_key", "mode", "fields", "list", "name", "format", "holdout",
    "frequency_cap",
}  # fmt: skip
_HOLDOUT_KEYS = {"share", "salt", "person"}


@dataclass(frozen=True)
class SyncSpec:
    """One audience -> destination sync.

    ``fields`` maps destination field names to audience columns, in a fixed order (the order of
    the declaration), so fingerprints are stable.
    """

    audience: str
    destination: str
    match_key: str
    fields: tuple[tuple[str, str], ...]
    mode: str = "upsert"
    object: str = "contacts"
    list: str | None = None
    format: str | None = None
    name: str = ""
    schema: str = "audiences"
    options: Mapping[str, Any] = field(default_factory=dict)
    holdout: float = 0.0  # the share of people kept out (0: none)
    holdout_salt: str = ""
    holdout_person: str = "user_id"
    frequency_cap_days: int = 0  # defer people contacted this many days back (0: no cap)
    frequency_cap_syncs: tuple[str, ...] = ()  # contacts by these syncs only (empty: by any)

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", f"{self.audience}_to_{self.destination}")

    @property
    def relation(self) -> str:
        """The audience table in the warehouse, e.g. ``audiences.aud_champions``."""
        return f"{self.schema}.{self.audience}"

    @property
    def columns(self) -> list[str]:
        """The audience columns the sync reads: the match key, then each mapped column."""
        return [self.match_key] + [column for _, column in self.fields]

    @classmethod
    def from_declaration(
        cls, audience: str, declaration: Mapping[str, Any], *, schema: str = "audiences"
    ) -> SyncSpec:
        """Validate one ``meta.recur.syncs`` entry; errors name the model and the key to fix."""
        where = f"model {audience}, meta.recur.syncs"
        if not isinstance(declaration, Mapping):
            raise SyncConfigError(f"{where}: each sync must be a mapping, got {declaration!r}")
        unknown = set(declaration) - _KNOWN_KEYS
        if unknown:
            raise SyncConfigError(
                f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_KNOWN_KEYS)}"
            )
        destination = declaration.get("destination")
        if not destination or not isinstance(destination, str):
            raise SyncConfigError(f"{where}: 'destination' is required (e.g. hubspot or file)")
        match_key = declaration.get("match_key")
        if not match_key or not isinstance(match_key, str):
            raise SyncConfigError(f"{where}: 'match_key' is required (the audience column)")
        mode = declaration.get("mode", "upsert")
        if mode not in MODES:
            raise SyncConfigError(f"{where}: mode {mode!r} is not one of {', '.join(MODES)}")
        fields = declaration.get("fields") or {}
        if not isinstance(fields, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
        ):
            raise SyncConfigError(
                f"{where}: 'fields' must map destination fields to audience columns"
            )
        holdout = _holdout(where, declaration.get("holdout"))
        cap = _frequency_cap(where, declaration.get("frequency_cap"))
        name = declaration.get("name") or f"{audience}_to_{destination}"
        if not _NAME.match(name):
            raise SyncConfigError(f"{where}: name {name!r} must be letters, digits and _")
        return cls(
            audience=audience,
            destination=destination,
            match_key=match_key,
            fields=tuple(fields.items()),
            mode=mode,
            object=declaration.get("object", "contacts"),
            list=declaration.get("list"),
            format=declaration.get("format"),
            name=name,
            schema=schema,
            **holdout,
            **cap,
        )


def _holdout(where: str, declaration: Any) -> dict[str, Any]:
    """The SyncSpec fields of a ``holdout`` entry (none when absent)."""
    if declaration is None:
        return {}
    where = f"{where}, holdout"
    if not isinstance(declaration, Mapping) or "share" not in declaration:
        raise SyncConfigError(f"{where}: must be a mapping with a share, e.g. {{share: 0.1}}")
    unknown = set(declaration) - _HOLDOUT_KEYS
    if unknown:
        raise SyncConfigError(
            f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_HOLDOUT_KEYS)}"
        )
    share = declaration["share"]
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
        raise SyncConfigError(f"{where}: share must be a number between 0 and 1, got {share!r}")
    salt = declaration.get("salt", "")
    person = declaration.get("person", "user_id")
    if not isinstance(salt, str | int) or not isinstance(person, str) or not person:
        raise SyncConfigError(f"{where}: salt must be text and person an audience column")
    return {"holdout": float(share), "holdout_salt": str(salt), "holdout_person": person}


def _frequency_cap(where: str, declaration: Any) -> dict[str, Any]:
    """The SyncSpec fields of a ``frequency_cap`` entry (none when absent)."""
    if declaration is None:
        return {}
    days = declaration.get("days") if isinstance(declaration, Mapping) else None
    syncs = declaration.get("syncs", []) if isinstance(declaration, Mapping) else None
    if (
        not isinstance(declaration, Mapping)
        or not set(declaration) <= {"days", "syncs"}
        or isinstance(days, bool)
        or not isinstance(days, int)
        or days < 1
        or not isinstance(syncs, list)
        or not all(isinstance(name, str) and name for name in syncs)
    ):
        raise SyncConfigError(
            f"{where}, frequency_cap: must be {{days: N}} with N a whole number of days >= 1, "
            f"and optionally syncs: [names] (the syncs whose sends count), got {declaration!r}"
        )
    return {"frequency_cap_days": days, "frequency_cap_syncs": tuple(syncs)}


def specs_from_manifest(manifest: Mapping[str, Any]) -> list[SyncSpec]:
    """Every sync declared on a model of a parsed dbt manifest, in a stable order."""
    specs: list[SyncSpec] = []
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
        declarations = (meta.get("recur") or {}).get("syncs") or []
        specs += [
            SyncSpec.from_declaration(node["name"], d, schema=node.get("schema", "audiences"))
            for d in declarations
        ]
    return unique_names(sorted(specs, key=lambda s: (s.audience, s.destination, s.name)))


def unique_names(specs: Iterable[SyncSpec]) -> list[SyncSpec]:
    """Number repeated names (two HubSpot syncs on one audience) so each is its own asset."""
    seen: dict[str, int] = {}
    out = []
    for spec in specs:
        n = seen.get(spec.name, 0)
        seen[spec.name] = n + 1
        if n:
            spec = SyncSpec(**{**spec.__dict__, "name": f"{spec.name}_{n + 1}"})
        out.append(spec)
    return out


def load_specs(manifest_path: Path) -> list[SyncSpec]:
    """The syncs declared in a dbt ``manifest.json``."""
    try:
        manifest = json.loads(Path(manifest_path).read_text())
    except FileNotFoundError:
        raise SyncConfigError(
            f"{manifest_path} does not exist: run `dbt parse` in dbt_project/ (make demo does)"
        ) from None
    return specs_from_manifest(manifest)
