"""`prov fileview`: files defined as SQL or a script over the project's files.

`prov fileview [-c] -n NAME -q SQL | -s SCRIPT [-i FILE]...` defines a view (and with `-c`
writes it, as a recorded activity); the subcommands read, evaluate, check and refresh views.
"""

from __future__ import annotations

import click

from provgraph.cli.common import console, json_out, repository
from provgraph.text import printable


def _value(_ctx: click.Context, _param: click.Parameter, value):
    """`-n='results.csv'` reaches us as `-n=results.csv`: click's short option then holds
    `=results.csv`. The paper writes it so; a name or SQL never begins with `=`."""
    if isinstance(value, tuple):
        return tuple(v[1:] if v.startswith("=") else v for v in value)
    if isinstance(value, str) and value.startswith("="):
        return value[1:]
    return value


class FileviewGroup(click.Group):
    """Subcommands after the group's options; with none, the options define a view."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path,
                              "[-c] -n NAME (-q SQL | -s SCRIPT [-i FILE]...) [OPTIONS]\n"
                              "       prov fileview cat|list|show|status|refresh|trust|drop "
                              "...")


DEFINE_OPTIONS = ("name", "query", "script", "inputs", "create", "dialect", "header", "fmt",
                  "force")


@click.group("fileview", cls=FileviewGroup, invoke_without_command=True)
@click.option("-n", "--name", callback=_value,
              help="The view's file (its name), e.g. results.csv; the extension says the "
                   "output format (.csv, .tsv, .parquet, .json, .jsonl; .gz/.zst compress).")
@click.option("-q", "--query", callback=_value,
              help="SQL over repository files named as {path} (or {path:noheader}, ...).")
@click.option("-s", "--script", callback=_value,
              help="A shell pipeline; its standard output is the view.")
@click.option("-i", "--input", "inputs", multiple=True, callback=_value,
              help="A script's input file, concatenated on its standard input (repeatable).")
@click.option("-c", "--create", is_flag=True,
              help="Materialize: write the file now, recorded as an activity.")
@click.option("--dialect", type=click.Choice(["duckdb", "sqlite", "postgres"]),
              default="duckdb", show_default=True, callback=_value,
              help="The SQL's dialect, transpiled to DuckDB.")
@click.option("--header/--no-header", default=None,
              help="Whether CSV/TSV inputs start with a header (default: detected per file).")
@click.option("--format", "fmt", type=click.Choice(["csv", "tsv", "parquet", "json", "jsonl"]),
              help="Output format, when the name's extension does not say it.")
@click.option("--force", is_flag=True,
              help="Overwrite a file not made by the view (or changed since it was).")
@click.option("--memory-limit", metavar="SIZE",
              help="DuckDB's memory limit (2GB, 25%; default fileview.memory_limit or 25%).")
@click.pass_context
def command(ctx: click.Context, name, query, script, inputs, create, dialect, header, fmt,
            force, memory_limit) -> None:
    """Files defined as SQL or a script over the project's files (file views).

    \b
    prov fileview -c -n results.csv -q 'select t._c2 as label, count(*) as err_cnt
        from {testfile.csv} as t, {predfile.csv} as r
        where t._c0 = r._c0 and t._c2 != r._c2 group by t._c2'
    prov fileview -n counts.txt -s 'sort | uniq -c' -i words.txt

    With -c the file is written now, as an activity that used the inputs' versions and
    generated the file's (with the SQL, the engine and the column lineage); without it the
    view is a stored definition, evaluated by `prov fileview cat NAME`. Definitions are kept
    in the journal and travel with `prov push`/`prov pull`.
    """
    ctx.ensure_object(dict)["memory_limit"] = memory_limit
    given = {k for k, v in dict(name=name, query=query, script=script, inputs=inputs,
                                create=create, header=header, fmt=fmt, force=force).items()
             if v not in (None, False, ())}
    if ctx.invoked_subcommand is not None:
        if given:
            raise click.UsageError(f"-n/-q/-s/... define a view; they do not go with "
                                   f"`prov fileview {ctx.invoked_subcommand}`")
        return
    if not given:
        click.echo(ctx.get_help())
        return
    if name is None:
        raise click.UsageError("a view needs a name: -n results.csv")
    import provgraph.fileview as fv

    repo = repository()
    view = fv.definition(repo, name, query=query, script=script, stdin=list(inputs),
                         dialect=dialect, header=header, format=fmt)
    defined = fv.define(repo, view, materialize=create, force=force, memory_limit=memory_limit)
    if defined.materialized is not None:
        made = defined.materialized
        rows = f" ({made.rows} rows)" if made.rows is not None else ""
        _note(f"Wrote {name}{rows}: activity {made.activity}.")
    else:
        _note(f"Defined the view {name} (virtual: `prov fileview cat {name}` "
                          "evaluates it).")


def _note(message: str) -> None:
    """A message about what was done, on stderr (stdout stays for data), never wrapped."""
    click.echo(printable(message), err=True)


def _repo_name(repo, name: str) -> str:
    import os

    from provgraph.errors import ProvError

    rel = repo.relpath(name, os.getcwd())
    if rel is None:
        raise ProvError(f"{name} is outside the repository {repo.root}")
    return rel


@command.command("cat")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["csv", "tsv", "json", "jsonl"]),
              help="Output format (default: the view's own; Parquet views print CSV).")
@click.pass_context
def cat_command(ctx: click.Context, name: str, fmt: str | None) -> None:
    """Evaluate the view NAME and print it on standard output (nothing is written)."""
    import provgraph.fileview as fv

    repo = repository()
    fv.cat(repo, _repo_name(repo, name), fmt, memory_limit=ctx.obj.get("memory_limit"))


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def list_command(as_json: bool) -> None:
    """List the views: name, kind, materialized or virtual, inputs."""
    import provgraph.fileview as fv

    repo = repository()
    found = fv.list_views(repo)
    review = _needing_review(repo, found.values())
    if as_json:
        json_out([_summary(v, v.name in review) for v in found.values()])
        return
    if not found:
        _note("No views yet: prov fileview -n NAME -q 'select ... from {file.csv}'")
        return
    width = max(len(n) for n in found)
    for view in found.values():
        how = "materialized" if view.materialized else "virtual"
        mark = f"  (needs review: prov fileview trust {view.name})" if view.name in review \
            else ""
        console.print(printable(f"{view.name:<{width}}  {view.kind:<6}  {how:<12}  "
                                f"{', '.join(view.inputs)}{mark}"), markup=False)


def _needing_review(repo, views) -> set[str]:
    """The views defined in another clone and not accepted here (`prov fileview trust`)."""
    from provgraph.fileview.trust import accepted, needs_review

    known = accepted(repo)
    return {v.name for v in views if needs_review(repo, v, known)}


def _summary(view, needs_review: bool = False) -> dict:
    last = view.last
    return {
        "name": view.name, "kind": view.kind, "materialized": view.materialized,
        "inputs": view.inputs, "defined": view.defined, "agent": view.agent,
        "clone": view.chain, "needs_review": needs_review,
        "definition": view.definition,
        "last_materialization": None if last is None else {
            "activity": last.activity, "ended": last.ended, "inputs": last.inputs,
            "output": last.output, "rows": last.rows, "agent": last.agent},
    }


@command.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def show_command(name: str, as_json: bool) -> None:
    """Show the definition of the view NAME and its last materialization."""
    import provgraph.fileview as fv
    from provgraph.fileview.views import command_line

    repo = repository()
    view = fv.show(repo, _repo_name(repo, name))
    review = bool(_needing_review(repo, [view]))
    if as_json:
        json_out(_summary(view, review))
        return
    d = view.definition
    lines = [f"view     {view.name}",
             f"kind     {view.kind} ({'materialized' if view.materialized else 'virtual'})"]
    if view.kind == "script":
        lines.append(f"script   {d['script']}")
        if d.get("stdin"):
            lines.append(f"stdin    {', '.join(d['stdin'])}")
    else:
        lines.append(f"sql      {d['query']}")
        lines.append(f"dialect  {d.get('dialect', 'duckdb')}")
    lines += [f"inputs   {', '.join(view.inputs)}",
              f"defined  {view.defined}" + (f" by {view.agent}" if view.agent else ""),
              f"command  {command_line(d, materialize=view.materialized)}"]
    if view.last is not None:
        last = view.last
        rows = f", {last.rows} rows" if last.rows is not None else ""
        lines.append(f"written  {last.ended} by activity {last.activity}{rows}")
        for path, oid in last.inputs.items():
            lines.append(f"  used   {path} ({(oid or 'not recorded')[:12]})")
    if review:
        lines.append(f"trust    needs review: defined in another clone; prov fileview trust "
                     f"{view.name} shows it and accepts it")
    # a query may be several lines; `prov fileview trust` shows them indented (_visible)
    console.print("\n".join(printable(line, multiline=True) for line in lines), markup=False)


@command.command("status")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def status_command(names: tuple[str, ...], as_json: bool) -> None:
    """Say which materialized views are stale: an input changed since the file was written."""
    import provgraph.fileview as fv

    repo = repository()
    found = fv.status(repo, [_repo_name(repo, n) for n in names] or None)
    if as_json:
        json_out([{"name": s.name, "state": s.state, "changed": s.changed,
                   "needs_review": s.needs_review} for s in found])
        return
    if not found:
        _note("No views yet.")
        return
    width = max(len(s.name) for s in found)
    for state in found:
        console.print(printable(f"{state.name:<{width}}  {state.describe()}"), markup=False)


@command.command("refresh")
@click.argument("names", nargs=-1)
@click.option("--force", is_flag=True,
              help="Also rewrite fresh views, and files changed since their view wrote them.")
@click.pass_context
def refresh_command(ctx: click.Context, names: tuple[str, ...], force: bool) -> None:
    """Re-materialize stale views (or the views NAMES), each as a new activity."""
    import provgraph.fileview as fv

    repo = repository()
    done = fv.refresh(repo, [_repo_name(repo, n) for n in names] or None, force=force,
                      memory_limit=ctx.obj.get("memory_limit"))
    if not done:
        _note("No materialized views.")
    failed = [item for item in done if item.action.startswith("failed")]
    for item in done:
        if item.result is not None:
            rows = f" ({item.result.rows} rows)" if item.result.rows is not None else ""
            console.print(printable(f"{item.name}: refreshed{rows}, activity "
                                    f"{item.result.activity}"), markup=False)
        elif item not in failed:
            console.print(printable(f"{item.name}: {item.action}"), markup=False)
    for item in failed:
        _note(f"prov: {item.name}: {item.action.removeprefix('failed: ')}")
    if failed:
        raise SystemExit(1)


@command.command("trust")
@click.argument("name")
@click.option("--show", is_flag=True, help="Only print the definition; accept nothing.")
def trust_command(name: str, show: bool) -> None:
    """Accept the view NAME, defined in another clone, so that refresh and cat run it.

    Prints what is accepted (the query or script, its inputs, its folder, who defined it and
    when), then records that this clone accepts that exact definition (a digest under
    .git/prov/, never committed): a changed definition needs accepting again. Views defined
    in this clone need no acceptance.
    """
    import provgraph.fileview as fv
    from provgraph.fileview import trust

    repo = repository()
    view = fv.show(repo, _repo_name(repo, name))
    console.print("\n".join(_definition_lines(view)), markup=False)
    if not trust.foreign(repo, view):
        _note(f"{view.name} is this clone's own (defined or run here): it needs no "
              "acceptance.")
    elif not trust.needs_review(repo, view):
        _note(f"This definition of {view.name} was accepted before.")
    elif show:
        _note(f"Not accepted (--show): `prov fileview trust {view.name}` accepts it.")
    else:
        fv.accept(repo, view.name)
        _note(f"Accepted this definition of {view.name}: prov fileview refresh and cat run it "
              "now (a changed definition needs accepting again).")


def _definition_lines(view) -> list[str]:
    """A definition as it will run, every character visible (`_visible`): what a user
    accepts must be what they read."""
    d = view.definition
    lines = [f"view     {_visible(view.name)}",
             f"kind     {_visible(str(view.kind))} "
             f"({'materialized' if view.materialized else 'virtual'})",
             f"defined  {_visible(view.defined)}" + (f" by {_visible(view.agent)}"
                                                     if view.agent else "")
             + f" in clone {_visible(view.chain) or '?'}",
             f"folder   {_visible(str(d.get('cwd', '.')))}"]
    if view.kind == "script":
        lines.append(f"script   {_visible(str(d.get('script')))}")
        if d.get("stdin"):
            lines.append(f"stdin    {', '.join(_visible(str(p)) for p in d['stdin'])}")
    else:
        lines.append(f"sql      {_visible(str(d.get('query')))}")
        lines.append(f"dialect  {_visible(str(d.get('dialect', 'duckdb')))}")
    lines.append(f"inputs   {', '.join(_visible(str(p)) for p in view.inputs) or '(none)'}")
    return lines


def _visible(text: str) -> str:
    """`text` with control and invisible format characters (escape sequences, carriage
    returns, bidirectional overrides, zero-width spaces) escaped, as everywhere: they could
    hide part of a script from the person accepting it. Newlines are kept, the lines after
    the first indented."""
    from provgraph.text import printable

    return printable(text, multiline=True).replace("\n", "\n         ")


@command.command("drop")
@click.argument("name")
def drop_command(name: str) -> None:
    """Forget the view NAME (its file, if written, stays as it is)."""
    import provgraph.fileview as fv

    repo = repository()
    rel = _repo_name(repo, name)
    fv.drop(repo, rel)
    _note(f"Dropped the view {rel}" + (" (the file stays)." if
                                                   _exists(repo, rel) else "."))


def _exists(repo, rel: str) -> bool:
    import os

    return os.path.exists(os.path.join(repo.root, rel))


def register(sub: click.Command) -> None:
    """Add a subcommand to `prov fileview`, from a module of its own.

    `prov fileview why` lives in cli/fileview_why.py, which ends with

        from provgraph.cli.fileview import register
        register(why)

    and is imported with this module when `prov fileview` runs (MODULES in cli/__init__.py).
    """
    command.add_command(sub)
