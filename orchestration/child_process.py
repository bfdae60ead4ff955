"""dbt as a child that ends with its parent: the `recur-dbt` command Dagster runs instead of dbt.

Dagster runs ``dbt build`` as a subprocess of the step. Killed hard (``kill -9``, the OOM
killer, a closed terminal), the step cannot stop it, and an orphaned dbt kept the warehouse
locked for every later run. On Linux, `recur-dbt` asks the kernel to send it SIGTERM when the
process that started it dies (``prctl(PR_SET_PDEATHSIG)``, kept across ``exec``), checks that
this parent is still alive, and replaces itself with the dbt next to this interpreter: same
arguments, environment and exit code, and no extra process. dbt stops on SIGTERM like on
Ctrl-C, and DuckDB releases the file with it. Elsewhere it simply runs dbt. On the Spark engine
(RECUR_ENGINE=spark) it runs dbt in its own process instead, with the submission method that runs
Python models in the Spark session (orchestration/spark_python_models.py).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def dbt_path() -> Path:
    """The dbt installed beside this Python."""
    return Path(sys.executable).parent / "dbt"


def end_with_parent(parent: int) -> bool:
    """Ask for SIGTERM when the parent dies; False when it is already gone (this process was
    re-parented before asking) or the platform cannot ask."""
    if not sys.platform.startswith("linux"):
        return True
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return True  # not available here: run dbt as before
    return os.getppid() == parent


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    parent = os.getppid()
    if parent == 1 or not end_with_parent(parent):
        print("recur-dbt: the process that started dbt is gone; not starting dbt", file=sys.stderr)
        return 1
    if os.environ.get("RECUR_ENGINE", "duckdb").strip().lower() == "spark":
        # Python models run in the Spark session of this very process (spark_python_models.py)
        from orchestration.spark_python_models import run_dbt

        return run_dbt(args)
    dbt = dbt_path()
    os.execv(dbt, [str(dbt), *args])
    return 1  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
