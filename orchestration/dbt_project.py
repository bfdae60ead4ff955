"""The dbt project, alone in its module so its manifest can be prepared before definitions import.

``@dbt_assets`` reads ``target/manifest.json`` when the definitions are imported. It is prepared
here, under `dagster dev` as everywhere else (``recur``, tests, CI), when missing or older than any
file of the dbt project (a ``dbt parse``, 5-12 s; dagster-dbt's ``prepare_if_dev`` parsed at every
load of the code location under `dagster dev`, with ``dbt --version`` first), and again,
before a dbt command runs, when it was parsed with other settings (``prepare(for_dbt=True)``,
called by the dbt asset: commands that run no dbt, such as `recur sync`, never pay for it).

The settings matter because every dbt command of a run starts from the prepared
``partial_parse.msgpack`` (dagster-dbt copies it into the command's target folder). dbt throws it
away and parses the whole project again when the profile (the warehouse path, DuckDB settings),
the environment variables ``dbt_project.yml`` reads or the ``--vars`` differ from the parse that
wrote it (a whole `dbt parse` took 45-47 s here under load, against 19 s with the parse kept).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path

import yaml
from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject
from dagster_dbt import asset_utils as dagster_dbt_selection
from packaging import version

from orchestration import environment

DBT_DIR = environment.PROJECT_ROOT / "dbt_project"

# dbt runs as a subprocess that must find the dbt next to this interpreter, and open the same
# warehouse file as the Python assets (profiles.yml reads RECUR_WAREHOUSE).
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ["RECUR_WAREHOUSE"] = str(environment.warehouse_path())
if environment.engine() == "spark":  # as profiles.yml reads it; the target's folders absolute
    os.environ["RECUR_ENGINE"] = "spark"
    os.environ["RECUR_PARQUET_MIRROR"] = str(environment.parquet_mirror_path())
    os.environ["RECUR_SPARK_DIR"] = str(environment.spark_dir())
os.environ.setdefault("DO_NOT_TRACK", "1")


def dbt_vars_args() -> list[str]:
    """``--vars`` from RECUR_DBT_VARS (a YAML mapping, as dbt's own ``--vars``), e.g. the app's
    event names for `recur run` (docs/configuration.md); none when unset.

    >>> os.environ["RECUR_DBT_VARS"] = "{audience_purchase_event: purchase}"
    >>> dbt_vars_args()
    ['--vars', '{"audience_purchase_event": "purchase"}']
    >>> os.environ["RECUR_DBT_VARS"] = "purchase"
    >>> dbt_vars_args()
    Traceback (most recent call last):
    ...
    ValueError: RECUR_DBT_VARS is not a YAML mapping of dbt vars (e.g. '{audience_purchase_event: purchase}')
    >>> del os.environ["RECUR_DBT_VARS"]
    """
    text = os.environ.get("RECUR_DBT_VARS", "").strip()
    if not text:
        return []
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError:
        values = None
    if not isinstance(values, dict):
        raise ValueError(
            "RECUR_DBT_VARS is not a YAML mapping of dbt vars "
            "(e.g. '{audience_purchase_event: purchase}')"
        )
    return ["--vars", json.dumps(values)]


def parse_settings() -> str:
    """What dbt's partial parsing compares besides the files: the environment variables that
    profiles.yml and dbt_project.yml read, and the ``--vars`` Recur passes to dbt; and where the
    project is (the prepared parse holds its absolute path, see :class:`InPlacePreparer`)."""
    names: set[str] = set()
    for name in ("profiles.yml", "dbt_project.yml"):
        text = (DBT_DIR / name).read_text()
        names |= set(re.findall(r"env_var\(\s*['\"](\w+)['\"]", text))
    env = {name: os.environ.get(name) for name in sorted(names)}
    return json.dumps({"env": env, "vars": _parse_vars(), "project": str(DBT_DIR)}, sort_keys=True)


def _parse_vars() -> list[str]:
    """The ``--vars`` to parse with; a bad RECUR_DBT_VARS is reported, named, by the dbt step."""
    try:
        return dbt_vars_args()
    except ValueError:
        return []


dbt_project = DbtProject(
    project_dir=DBT_DIR,
    profiles_dir=DBT_DIR,
    prepare_project_cli_args=["parse", "--quiet", *_parse_vars()],
)


# The settings of the last `prepare()`, beside the manifest it wrote.
SETTINGS_STAMP = Path(dbt_project.manifest_path).with_name("recur_parse_settings.json")


def _stale(project: DbtProject, *, for_dbt: bool = False) -> bool:
    manifest = Path(project.manifest_path)
    if not manifest.exists():
        return True
    if for_dbt:
        try:
            if SETTINGS_STAMP.read_text() != parse_settings():
                return True
        except FileNotFoundError:
            return True
    built = manifest.stat().st_mtime
    sources = [DBT_DIR / "dbt_project.yml", DBT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "seeds", "tests"):
        sources += [p for p in (DBT_DIR / folder).rglob("*") if p.is_file()]
    return any(p.stat().st_mtime > built for p in sources)


#: The target folders of this many of the latest dbt commands are kept: each command gets one
#: from dagster-dbt (its compiled SQL, dbt.log, run_results.json, a manifest and parse of the
#: project: about 9 MB), and kept all they grew by about 45 MB a day with a daily run.
KEPT_COMMAND_FOLDERS = 20
# dagster-dbt's names for them: the op, the run's id and a uuid, 7 characters each
_COMMAND_FOLDER = re.compile(r"[A-Za-z0-9_]+-[0-9a-f]{7}-[0-9a-f]{7}")


def prune(target: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest command folders in ``target``; return those deleted.
    The prepared manifest and parse beside them, and anything else, stay."""
    if not target.is_dir():
        return []
    folders = sorted(
        (p for p in target.iterdir() if p.is_dir() and _COMMAND_FOLDER.fullmatch(p.name)),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for folder in folders[keep:]:
        shutil.rmtree(folder, ignore_errors=True)
    return folders[keep:]


def dbt_executable() -> str:
    """What Dagster runs as dbt: `recur-dbt` (orchestration/child_process.py, installed with
    Recur beside this interpreter), which makes dbt end with the step that started it; plain
    dbt when Recur was not installed as a package (a source checkout run in place)."""
    wrapper = Path(sys.executable).parent / "recur-dbt"
    return str(wrapper if wrapper.exists() else Path(sys.executable).parent / "dbt")


#: dagster-dbt passes a run's dbt selection to dbt as one argument, and past 200 resources (for
#: Windows' 32 kB command line) runs dbt instead from a copy of the whole project, target folder
#: included, in a temporary folder it never deletes: Recur's whole pipeline selects 361, and 166
#: such copies held 22 GB of /tmp here. Linux and macOS take one argument of 128 kB and more,
#: about 2,000 of Recur's resource names; a larger selection still gets a copy, which
#: :func:`keep_from_copy` folds back and deletes.
SELECTION_IN_ARGUMENTS = 1000
if sys.platform != "win32" and isinstance(dagster_dbt_selection._SELECTION_ARGS_THRESHOLD, int):
    dagster_dbt_selection._SELECTION_ARGS_THRESHOLD = max(  # type: ignore[misc]
        dagster_dbt_selection._SELECTION_ARGS_THRESHOLD, SELECTION_IN_ARGUMENTS
    )


def keep_from_copy(project_dir: Path, target_path: Path, target: Path) -> Path | None:
    """After a dbt command that dagster-dbt ran from a temporary copy of the project
    (``project_dir``, its command folder ``target_path``): move the command folder into
    ``target`` beside the others (its log, compiled SQL and run_results.json), delete the copy,
    and return where the folder went. Nothing for a command run in the project itself."""
    copy = Path(project_dir).resolve()
    selectors = copy / "selectors.yml"  # dagster-dbt's copy selects through a selector of its own
    if (
        copy == DBT_DIR.resolve()
        or not copy.is_relative_to(Path(tempfile.gettempdir()).resolve())
        or not selectors.is_file()
        or "dagster_run_" not in selectors.read_text()
    ):
        return None
    kept = None
    if Path(target_path).is_dir():
        kept = Path(shutil.move(str(target_path), str(Path(target) / Path(target_path).name)))
    shutil.rmtree(copy, ignore_errors=True)
    return kept


class RecurDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without two things it does in Dagster's own process before dbt
    commands; tests/integration/test_dagster_dbt.py pins both hooks.

    - The dbt adapter it opens before every command (1.8-3.5 s here: dbt's project, profile and
      DuckDB plugin), used only for ``fetch_column_metadata()``, which Recur does not call: row
      counts and previews are read by `with_table_metadata` after dbt ends. dagster-dbt treats a
      missing adapter as allowed (``adapter=None``).
    - ``dbt --version`` run as a process of its own to learn which dbt runs (2.3 s, a Python
      importing dbt, once per run): the dbt that runs is dbt-core installed beside Recur
      (`recur-dbt` starts the dbt next to this interpreter), so its version is read from the
      installed package.

    And it keeps the target folders of the latest dbt commands only (:func:`prune`)."""

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None

    @cached_property
    def _cli_version(self) -> version.Version:  # type: ignore[override]
        return version.parse(installed_version("dbt-core"))

    def _get_unique_target_path(self, *, context: object) -> Path:  # type: ignore[override]
        path = super()._get_unique_target_path(context=context)
        prune(Path(self.project_dir).joinpath(path.parent), keep=KEPT_COMMAND_FOLDERS - 1)
        return path


class InPlacePreparer(DagsterDbtProjectPreparer):
    """dagster-dbt's preparer, parsing through :class:`RecurDbtCliResource` (no ``dbt --version``
    process before the parse: 2.3 s) and without overwriting the seeds' checksums in the prepared
    parse.

    dagster-dbt sets them to zeros so that a project prepared on one machine and run from
    another path re-parses its seeds (their nodes hold the project's absolute path); every dbt
    command then parsed the 3 seed files again and wrote its manifest before its first node
    (about 0.5 s each here). Recur prepares where it runs, and prepares again when the project's
    path changes (it is in :func:`parse_settings`)."""

    def _invalidate_seeds_in_partial_parse(self, project: DbtProject) -> None:
        return None

    def _prepare_manifest(self, project: DbtProject) -> None:
        # dagster-dbt parses with a plain DbtCliResource, which runs `dbt --version` first
        RecurDbtCliResource(project_dir=project, dbt_executable=dbt_executable()).cli(
            self._prepare_project_cli_args, target_path=project.target_path
        ).wait()


def prepare(*, for_dbt: bool = False) -> None:
    """Write the manifest if it is missing or out of date; ``for_dbt``: also when it was parsed
    with other settings than the dbt commands about to run will use."""
    if _stale(dbt_project, for_dbt=for_dbt):
        settings = parse_settings()  # the vars as they are now (tests change them in-process)
        InPlacePreparer(["parse", "--quiet", *_parse_vars()]).prepare(dbt_project)
        SETTINGS_STAMP.write_text(settings)


prepare()
