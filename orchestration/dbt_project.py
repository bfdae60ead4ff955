"""The dbt project, alone in its module so its manifest can be prepared before definitions import.

``@dbt_assets`` reads ``target/manifest.json`` when the definitions are imported. `dagster dev`
prepares it itself (``prepare_if_dev``); everywhere else (``recur``, tests, CI) it is prepared here
when missing or older than any file of the dbt project (a ``dbt parse``, about 5 s).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration import environment

DBT_DIR = environment.PROJECT_ROOT / "dbt_project"

# dbt runs as a subprocess that must find the dbt next to this interpreter, and open the same
# warehouse file as the Python assets (profiles.yml reads RECUR_WAREHOUSE).
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ["RECUR_WAREHOUSE"] = str(environment.warehouse_path())
os.environ.setdefault("DO_NOT_TRACK", "1")

dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)


def _stale(project: DbtProject) -> bool:
    manifest = Path(project.manifest_path)
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [DBT_DIR / "dbt_project.yml", DBT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "seeds", "tests"):
        sources += [p for p in (DBT_DIR / folder).rglob("*") if p.is_file()]
    return any(p.stat().st_mtime > built for p in sources)


def dbt_executable() -> str:
    """What Dagster runs as dbt: `recur-dbt` (orchestration/child_process.py, installed with
    Recur beside this interpreter), which makes dbt end with the step that started it; plain
    dbt when Recur was not installed as a package (a source checkout run in place)."""
    wrapper = Path(sys.executable).parent / "recur-dbt"
    return str(wrapper if wrapper.exists() else Path(sys.executable).parent / "dbt")


def prepare() -> None:
    """Write the manifest if it is missing or out of date."""
    if _stale(dbt_project):
        dbt_project.preparer.prepare(dbt_project)


dbt_project.prepare_if_dev()
prepare()
