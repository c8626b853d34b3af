"""The file views' SQL writer: rewrite, run, write the file, store the lineage, in that
order, when why-provenance is on (`install` registers it with provgraph.fileview.evaluate).
"""

from __future__ import annotations

import os

from provgraph.fileview.why.rewriting import Unsupported, rewrite
from provgraph.fileview.why.running import prepare
from provgraph.fileview.why.storing import record


def enabled(repo, flag: bool | None = None) -> bool:
    """Whether materializing a view records its why-provenance: the `--why/--no-why` flag
    when given, else `PROV_FILEVIEW_WHY`, else the setting `fileview.why` (default: on)."""
    if flag is not None:
        return flag
    value = os.environ.get("PROV_FILEVIEW_WHY")
    if value is None:
        from provgraph.config import Config

        value = Config(repo.root, repo.prov_dir).get("fileview.why", True)
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off")
    return bool(value)


def write_view(evaluation, tmp: str) -> int | None:
    """The file views' SQL writer (`provgraph.fileview.evaluate.register_writer`): write a
    view's file from the rewritten query into `tmp` and record its lineage. Returns the rows
    written, or None to leave the file to the plain writer: why-provenance off, or a query
    shape without it. Sets `evaluation.why` to "recorded" or the reason there is none.

    The evaluation may carry `input_versions` ({path: digest}, the inputs' versions as the
    before-snapshot names them); without it the inputs are hashed, on another thread.
    """
    import sys

    from provgraph.fileview import engine, messages

    if not enabled(evaluation.repo, getattr(evaluation, "why_flag", None)):
        evaluation.why = "off"
        return None
    sources = evaluation.sources
    plan = rewrite(evaluation.compiled.sql, {i: s.ref.path for i, s in sources.items()})
    if isinstance(plan, Unsupported):
        evaluation.why = plan.reason
        return None
    # the sandboxed connection cannot open the index: a connection of provgraph's own will,
    # started now so that its ~20 ms are spent while the query runs
    index_con = _connect_in_background() if evaluation.scratch else None
    try:
        try:
            query = prepare(evaluation.con, plan,
                            {i: f"SELECT * FROM {s.relation}" for i, s in sources.items()},
                            root=evaluation.repo.root,
                            digests=evaluation.input_versions)
        except Exception as exc:
            raise messages.translate(exc, list(sources.values())) from None
        rows = engine.write(evaluation.con, query, tmp, evaluation.format, sources,
                            evaluation.compression)
        evaluation.why = plan.error or "recorded"
        if plan.error is None:
            name = evaluation.definition["name"]
            try:
                record(evaluation.con, plan, evaluation.repo, name, written=tmp,
                       query=evaluation.definition.get("query"), scratch=evaluation.scratch,
                       index_con=index_con.result() if index_con else None)
            except Exception as exc:  # the view is written: lost lineage does not fail it
                evaluation.why = f"not recorded: {str(exc).splitlines()[0]}"
                print(f"prov: {name}: why-provenance not recorded ({str(exc).splitlines()[0]})",
                      file=sys.stderr)
    finally:
        if index_con is not None:
            index_con.result().close()
    return rows


def _connect_in_background():
    """A future in-memory DuckDB connection (unrestricted: for provgraph's own statements)."""
    from concurrent.futures import ThreadPoolExecutor

    import duckdb

    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(duckdb.connect, ":memory:")
    pool.shutdown(wait=False)
    return future


def install() -> None:
    """Record why-provenance when the file views write SQL views (`prov fileview` does this
    through `provgraph.cli.fileview_why`; a Python script materializing views calls it)."""
    from provgraph.fileview.evaluate import register_writer

    register_writer(write_view)
