"""Explaining one output row: its input rows (file, row number, values) from the lineage
stored in the index, read from each input as it was (the file while unchanged, else its git
blob), or the most precise reason there is no lineage.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any

from provgraph import gitio
from provgraph.errors import BadInput, NotFound
from provgraph.fileview.tables import sql_literal
from provgraph.fileview.why.rewriting import RID, Unsupported, rewrite
from provgraph.fileview.why.running import keep_insertion_order
from provgraph.fileview.why.storing import attach, default_scan, digest_of, index_path


@dataclass
class SourceRow:
    """One input row in the why-provenance of an output row."""

    file: str
    row: int  # 1-based data row of the file (its header, if any, is not counted)
    values: dict[str, Any] | None  # None when that version of the file cannot be read
    alias: str = ""


@dataclass
class Explanation:
    output: str
    row: int
    values: dict[str, Any] | None
    sources: list[SourceRow]
    sql: str
    shape: str
    created: str
    inputs: list[dict[str, Any]]  # each input: alias, file, aliased (named AS in the query),
    # rows (how many of its rows are in the explanation)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"output": self.output, "row": self.row, "values": self.values,
                "sql": self.sql, "shape": self.shape, "created": self.created,
                "inputs": self.inputs,
                "sources": [{"file": s.file, "alias": s.alias, "row": s.row, "values": s.values}
                            for s in self.sources],
                "notes": self.notes}


def explain(repo, output: str, row: int, oid: str | None = None,
            limit: int | None = None) -> Explanation:
    """The input rows (file, row number, values) that produced row `row` (1-based) of the
    view file `output` (a repository path): of its current content, or of the version whose
    git blob id (or `sha256:` digest, as the index records large files) is `oid`.

    `limit`: at most that many rows of each input (`Explanation.inputs` counts them all)."""
    import duckdb

    path = index_path(repo)
    if oid is None:
        full = os.path.join(repo.root, output)
        if not os.path.isfile(full):
            raise NotFound(f"{output} does not exist (give a version: {output}@vN)")
        oid = gitio.hash_file(full, repo.object_format)[0]
    if not os.path.exists(path):
        raise NotFound(_why_not(repo, output, oid))
    con = duckdb.connect()
    try:
        schema = "__prov_index"
        attach(con, path, schema, read_only=True)
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ?",
            [schema]).fetchall()}
        if "fileview_lineage_outputs" not in tables:
            raise NotFound(_why_not(repo, output, oid))
        found = con.execute(
            f"SELECT output_id, sql, shape, inputs, output, rows, created, oid FROM "
            f"{schema}.fileview_lineage_outputs WHERE path = ? AND (oid = ? OR sha256 = ?) "
            "ORDER BY output_id DESC LIMIT 1", [output, oid, oid]).fetchone()
        if found is None:
            raise NotFound(_why_not(repo, output, oid))
        output_id, sql, shape, inputs, out_info, rows, created, oid = found
        inputs, out_info = json.loads(inputs), json.loads(out_info)
        if not 1 <= row <= rows:
            raise BadInput(f"{output} has {rows} rows: --row must be between 1 and {rows}"
                           if rows else f"{output} has no rows")
        pairs = con.execute(
            f"SELECT input, source_row FROM {schema}.fileview_lineage "
            "WHERE output_id = ? AND output_row = ? ORDER BY input, source_row",
            [output_id, row]).fetchall()
        con.execute(f"DETACH {schema}")
        notes: list[str] = []
        values = _read_rows(con, repo, out_info["scan"], output,
                            {"digest": oid, "stat": out_info.get("stat")}, [row], notes)
        out_values = values.get(row)
        if out_values is not None and out_info.get("columns"):
            out_values = dict(zip(out_info["columns"], out_values.values(), strict=False))
        wanted: dict[int, list[int]] = {}
        for index, source_row in pairs:
            wanted.setdefault(index, []).append(source_row)
        sources = []
        totals = {inputs[index]["alias"]: len(numbers) for index, numbers in wanted.items()}
        for index, numbers in sorted(wanted.items()):
            inp = inputs[index]
            numbers = numbers[:limit] if limit is not None else numbers
            scan = inp.get("scan") or default_scan(inp["path"], header=None)
            found_values = _read_rows(con, repo, scan, inp["path"], inp, numbers, notes)
            sources += [SourceRow(inp["path"], n, found_values.get(n), inp["alias"])
                        for n in numbers]
    finally:
        con.close()
    return Explanation(output, row, out_values, sources, sql, shape, created,
                       [{"alias": i["alias"], "file": i["path"],
                         "aliased": i["alias"] != i["relation"],
                         "rows": totals.get(i["alias"], 0)} for i in inputs], notes)


def _why_not(repo, output: str, oid: str) -> str:
    """Why there is no lineage for this version of `output`, as precisely as the view's
    definition tells."""
    generic = f"no record-level provenance for {output}"
    try:
        from provgraph.fileview import views
        from provgraph.fileview.sql import compile_query

        view = views.load(repo).get(output)
        if view is None:
            return f"{generic}: no file view writes it"
        if view.kind != "sql":
            return (f"why-provenance is unavailable for {output}: it is a script view "
                    "(SQL views have it)")
        d = view.definition
        compiled = compile_query(d["query"], d.get("dialect", "duckdb"), d.get("cwd", "."),
                                 repo.root)
        plan = rewrite(compiled.sql, {i: ref.path for i, ref in compiled.tables.items()})
    except Exception:
        return f"{generic}: it was not written by a view with why-provenance"
    if isinstance(plan, Unsupported):
        return f"{output}: {plan.message}"
    if oid not in view.outputs:
        return (f"{output} is not a version its view wrote (changed since?): why-provenance "
                f"describes the versions the view wrote (name one: {output}@vN)")
    return (f"{generic}: the view wrote it with why-provenance off (PROV_FILEVIEW_WHY=0 or "
            f"fileview.why = false); `prov fileview refresh --force {output}` records it")


def _read_rows(con, repo, scan: str, path: str, version: dict[str, Any], numbers: list[int],
               notes: list[str]) -> dict[int, dict[str, Any]]:
    """Rows `numbers` (1-based, data rows) of file `path` as it was (`version`: its `digest`
    and `stat`): the file itself while unchanged, else its blob from git when kept."""
    full = os.path.join(repo.root, path)
    digest, temp = version.get("digest"), None
    try:
        source = full
        if not _unchanged(full, version, repo.object_format):
            kept = digest and not digest.startswith("sha256:")
            temp = _blob_to_file(repo, digest, path) if kept else None
            if temp is None:
                notes.append(f"{path} changed since the view read it, and that version is "
                             "not kept: its values are not shown")
                return {}
            source = temp
        query = _retarget(scan, path, full, source)
        numbered = (f"SELECT * FROM (SELECT *, row_number() OVER () AS {RID.format('n')} "
                    f"FROM ({query})) WHERE {RID.format('n')} IN (SELECT unnest(?))")
        keep_insertion_order(con)
        cursor = con.execute(numbered, [numbers])
        names = [d[0] for d in cursor.description][:-1]
        return {r[-1]: dict(zip(names, r[:-1], strict=True)) for r in cursor.fetchall()}
    except Exception as exc:  # a value that cannot be shown must not hide the row numbers
        notes.append(f"cannot read {path} ({str(exc).splitlines()[0]}): values not shown")
        return {}
    finally:
        if temp:
            os.unlink(temp)


def _unchanged(full: str, version: dict[str, Any], object_format: str) -> bool:
    """Whether the file at `full` is still the version recorded (size and modification time
    as recorded, or, failing that, the same digest)."""
    try:
        st = os.stat(full)
    except OSError:
        return False
    if version.get("stat") == [st.st_size, st.st_mtime_ns]:
        return True
    digest = version.get("digest")
    return bool(digest) and digest_of(full, digest, object_format) == digest


def _retarget(scan: str, path: str, full: str, source: str) -> str:
    """The scan SQL reading `source` instead of the file it named (by absolute or repository
    path, as a string literal)."""
    for name in dict.fromkeys((full, os.path.realpath(full), path)):
        scan = scan.replace(sql_literal(name), sql_literal(source))
    return scan


def _blob_to_file(repo, oid: str, path: str) -> str | None:
    """The content of a git blob in a temporary file named like `path` (for its format)."""
    try:
        data = repo.git("cat-file", "blob", oid)
    except Exception:
        return None
    suffix = "".join(re.findall(r"\.[A-Za-z0-9]+", os.path.basename(path))[-2:])
    fd, temp = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return temp
