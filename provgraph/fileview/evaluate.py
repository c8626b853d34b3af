"""Evaluating a view definition: checked before anything runs, then written or printed.

`Evaluation(repo, definition).prepare()` does everything that can fail before an output is
touched: it parses the SQL, finds the inputs, sniffs their formats and binds the query (so a
missing column or input is reported before a snapshot is taken); `write(path)` then streams
the result into a file and `cat()` to standard output.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from provgraph.errors import ProvError
from provgraph.fileview import engine, messages, script
from provgraph.fileview.sql import Compiled, compile_query, lineage
from provgraph.fileview.tables import Source, TableRef, resolve, split_compression
from provgraph.repo import Repository

#: Writers that may take over writing a SQL view's file, tried in order: each is called as
#: `writer(evaluation, tmp)` with a prepared evaluation (`.con` with the inputs registered as
#: `__fv_i`, `.compiled`, `.sources`, `.repo`, `.definition`) and returns the number of rows
#: it wrote into `tmp`, or None to leave it to the next (and finally to a plain
#: `COPY (query) TO tmp`). Record-level why-provenance plugs in here (`register_writer`).
SQL_WRITERS: list[Callable[[Evaluation, str], int | None]] = []


def register_writer(writer: Callable[[Evaluation, str], int | None]) -> None:
    """Let `writer` take over writing SQL views' files (see SQL_WRITERS)."""
    if writer not in SQL_WRITERS:
        SQL_WRITERS.append(writer)


class Evaluation:
    def __init__(self, repo: Repository, definition: dict[str, Any],
                 memory_limit: str | None = None):
        self.repo = repo
        self.definition = definition
        self.memory_limit = memory_limit
        self.cwd = definition.get("cwd", ".")
        self.con = None
        self.scratch: str | None = None  # this evaluation's folder: spill files, the output
        self.compiled: Compiled | None = None
        self.sources: dict[str, Source] = {}
        self.columns: list[str] = []
        self.prepared: script.Prepared | None = None
        #: {path: digest} of the inputs, when the caller knows the versions the view reads
        #: (a materialization's before-snapshot); why-provenance hashes the others
        self.input_versions: dict[str, str] | None = None

    @property
    def kind(self) -> str:
        return self.definition.get("kind", "sql")

    @property
    def inputs(self) -> list[str]:
        if self.compiled is not None:
            return self.compiled.inputs
        if self.prepared is not None:
            return self.prepared.inputs
        return list(self.definition.get("inputs", []))

    def prepare(self) -> Evaluation:
        """Check and bind everything (see the module's docstring); on failure, nothing is
        left open (connection, scratch folder)."""
        try:
            return self._prepare()
        except BaseException:
            self.close()
            raise

    def _prepare(self) -> Evaluation:
        from provgraph.fileview.paths import check

        root = self.repo.root
        check(root, self.definition)  # a pulled definition says whatever its author wrote
        if self.kind == "script":
            self._check_inputs_exist(self.definition.get("stdin", []))
            self.prepared = script.prepare(self.definition["script"],
                                           self.definition.get("stdin", []), self.cwd, root)
            return self
        refs = self._declared()
        self.scratch = engine.scratch_dir(self.repo)
        self.con = engine.connect(self.repo, self.memory_limit, scratch=self.scratch,
                                  reads=[os.path.join(root, r.path) for r in refs.values()])
        self.sources = self._compile_and_resolve(refs)
        engine.register(self.con, self.sources)
        try:
            described = self.con.execute(f"DESCRIBE {self.compiled.sql}").fetchall()
        except Exception as exc:
            raise messages.translate(exc, list(self.sources.values())) from None
        self.columns = [row[0] for row in described]
        return self

    def _declared(self) -> dict[str, TableRef]:
        """The files the query names as `{path}`, by table name, known without a parse: the
        only files its connection may read (provgraph.sandbox)."""
        from provgraph.fileview.sql import scan, table_refs

        try:
            return table_refs(scan(self.definition["query"]), self.cwd, self.repo.root)
        except ProvError:
            return {}  # compile_query says what is wrong with them

    def _compile_and_resolve(self, refs: dict[str, TableRef]) -> dict[str, Source]:
        """Compile the query and decide how DuckDB reads each input, at once: the files are
        known from the placeholders before sqlglot has loaded, and DuckDB sniffs them (reads
        a sample of each, a cursor each) without holding the GIL meanwhile. Errors come in
        the order they would one after the other: the query's, a missing input, a file's."""
        from concurrent.futures import ThreadPoolExecutor

        root, header = self.repo.root, self.definition.get("header")

        def sniff(ref):
            cursor = self.con.cursor()
            try:
                return resolve(cursor, ref, root, header)
            finally:
                cursor.close()

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            sniffing = {ident: pool.submit(sniff, ref) for ident, ref in refs.items()
                        if os.path.isfile(os.path.join(root, ref.path))}
            self.compiled = compile_query(self.definition["query"],
                                          self.definition.get("dialect", "duckdb"), self.cwd,
                                          root)
            self._check_inputs_exist(self.compiled.inputs)
            return {ident: sniffing[ident].result() if ident in sniffing
                    else resolve(self.con, ref, root, header)
                    for ident, ref in self.compiled.tables.items()}

    def _check_inputs_exist(self, paths: list[str]) -> None:
        """A missing input that is a virtual view's name: say how to make it."""
        missing = [p for p in paths if not os.path.exists(os.path.join(self.repo.root, p))]
        if not missing:
            return
        from provgraph.fileview.views import load

        known = load(self.repo)
        for path in missing:
            if path in known:
                raise ProvError(f"input {path} does not exist: it is a view not written here "
                                f"yet (prov fileview refresh {path} writes it)")
        raise ProvError(f"input {missing[0]} does not exist")

    def check_output(self, name: str) -> None:
        """The output must not be one of the inputs."""
        if name in self.inputs:
            raise ProvError(f"the output {name} is also an input of the view: choose another "
                            "name (nothing was written)")

    def write(self, tmp: str) -> int | None:
        """Evaluate into the file `tmp`; the number of rows (SQL views)."""
        fmt = self.definition.get("format") or "csv"
        if self.kind == "script":
            assert self.prepared is not None
            try:
                with open(tmp, "wb") as out:
                    script.run(self.prepared, self.cwd, self.repo.root, out)
            except BaseException:
                engine.discard(tmp)
                raise
            return None
        assert self.compiled is not None
        for writer in SQL_WRITERS:
            rows = writer(self, tmp)
            if rows is not None:
                return rows
        return engine.write(self.con, self.compiled.sql, tmp, fmt, self.sources,
                            self.compression)

    @property
    def compression(self) -> str | None:
        """The output's compression, from its name (`results.csv.gz`: gzip)."""
        return split_compression(self.definition["name"])[1]

    @property
    def format(self) -> str:
        return self.definition.get("format") or "csv"

    def cat(self, fmt: str | None = None) -> None:
        if self.kind == "script":
            assert self.prepared is not None
            script.run(self.prepared, self.cwd, self.repo.root, None)
            return
        assert self.compiled is not None
        engine.cat(self.con, self.compiled.sql, fmt or self.format, self.sources,
                   self.temp_path())

    def temp_path(self) -> str:
        """Where the output is written before it is moved into place: for a SQL view, in
        its scratch folder (the one place besides its inputs its connection may touch)."""
        if self.scratch is None:
            self.scratch = engine.scratch_dir(self.repo)
        return engine.temp_path(self.scratch, self.definition["name"])

    def properties(self) -> dict[str, Any]:
        """What the materializing activity records (namespaced `fileview.`)."""
        d = self.definition
        props: dict[str, Any] = {"view": d["name"], "kind": self.kind, "inputs": self.inputs,
                                 "format": d.get("format")}
        if self.kind == "script":
            props.update(script=d["script"], stdin=d.get("stdin") or None,
                         engine="shell")
        else:
            assert self.compiled is not None
            props.update(sql=d["query"], dialect=d.get("dialect", "duckdb"),
                         duckdb_sql=self.compiled.sql, engine="duckdb",
                         engine_version=engine.engine_version(), columns=self.columns)
            found = self.lineage()
            if isinstance(found, dict):
                props["lineage"] = {k: v for k, v in found.items() if v}
            else:
                props["lineage_error"] = found
        return {f"fileview.{k}": v for k, v in props.items() if v not in (None, [], {})}

    def lineage(self) -> dict[str, list[str]] | str:
        """Column lineage, or why it could not be worked out (the view still works)."""
        assert self.compiled is not None
        try:
            return lineage(self.compiled, {i: s.columns for i, s in self.sources.items()},
                           self.columns)
        except Exception as exc:  # sqlglot cannot follow every query: say so, go on
            return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None
        engine.remove_scratch(self.scratch)
        self.scratch = None
