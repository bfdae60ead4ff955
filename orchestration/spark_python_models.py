"""dbt Python models on a Spark session: how the LTV models run on the `spark` target.

dbt-spark submits a Python model only to Databricks (its ``all_purpose_cluster`` and
``job_cluster`` methods); on a local Spark (``method: session``) or a Spark Connect client
(``SPARK_REMOTE``) it stops with "Databricks cluster_id is required". Yet with ``method: session``
the Spark session lives in the very process that runs dbt. This module adds a ``session``
submission method that runs the model's compiled code (the model, then dbt-spark's own code that
writes its result as a table) against that session, and makes it the default for session
profiles; the other methods are left as dbt-spark has them.

`recur-dbt` (orchestration/child_process.py) installs it and runs dbt in its own process when
``RECUR_ENGINE`` is ``spark``, so ``recur run``, Dagster and a hand-typed ``recur-dbt build`` run
the LTV models (ltv_model_params, customer_ltv) on Spark from the same files as on DuckDB: their
fitting and scoring is clv/ on a pandas frame of customer_purchase_summary either way.
"""

from __future__ import annotations

import sys

SESSION = "session"


class SessionPythonJob:
    """Runs a Python model's compiled code with the dbt connection's Spark session as ``spark``."""

    def __init__(self, parsed_model: dict, credentials) -> None:
        self.name = parsed_model.get("unique_id") or parsed_model.get("name", "python model")

    def submit(self, compiled_code: str) -> None:
        from pyspark.sql import SparkSession

        # dbt-spark's session connection made this session (getOrCreate with its settings)
        spark = SparkSession.builder.getOrCreate()
        code = compile(compiled_code, f"<dbt Python model {self.name}>", "exec")
        exec(code, {"__name__": "__dbt_python_model__", "spark": spark})  # noqa: S102


def install() -> None:
    """Add the ``session`` method to dbt-spark's adapter, the default for session profiles."""
    from dbt.adapters.spark.impl import SparkAdapter

    if getattr(SparkAdapter, "_recur_session_models", False):
        return
    helpers = SparkAdapter.python_submission_helpers.fget
    default = SparkAdapter.default_python_submission_method.fget

    def python_submission_helpers(self):
        return {**helpers(self), SESSION: SessionPythonJob}

    def default_python_submission_method(self):
        if getattr(self.config.credentials, "method", None) == SESSION:
            return SESSION
        return default(self)

    SparkAdapter.python_submission_helpers = property(python_submission_helpers)
    SparkAdapter.default_python_submission_method = property(default_python_submission_method)
    SparkAdapter._recur_session_models = True


def run_dbt(args: list[str]) -> int:
    """dbt's own command line, in this process, with the session method installed."""
    install()
    from dbt.cli.main import cli

    try:
        cli.main(args=args, prog_name="dbt")  # exits with dbt's own code, as the dbt command does
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_dbt(sys.argv[1:]))
