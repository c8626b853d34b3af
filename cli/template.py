"""`prov template`: turn a recorded run into a plan with parameters (`prov sweep` runs it)."""

from __future__ import annotations

import click

from provgraph.cli.common import json_out
from provgraph.text import printable


def _print(template) -> None:
    click.echo(f"{printable(template.name)} v{template.version} ({template.id}), from "
               f"{template.source}, defined {template.defined[:19].replace('T', ' ')}"
               + (f" by {printable(template.agent)}" if template.agent else "")
               + (f"; {template.versions} versions" if template.versions > 1 else ""))
    click.echo(f"  $ {printable(template.command)}" + (
        f"   (in {printable(template.cwd)})" if template.cwd not in ("", ".") else ""))
    for param in template.params:
        where = {"config": f"{param.get('file')}: {param.get('path')}",
                 "env": f"environment variable {param.get('name')}"}.get(
                     param.get("kind"), f"word @{param.get('at')} of the command line")
        click.echo(f"  {printable(param['key'])} = {printable(param['spec'])}   "
                   f"[{len(param['values'])} value{'s' if len(param['values']) != 1 else ''}; "
                   f"{printable(where)}; the run had {printable(param.get('default'))}]")


@click.command("template", context_settings={"ignore_unknown_options": False})
@click.argument("words", nargs=-1, required=True)
@click.option("--from", "run", metavar="RUN", help="The run to make the template of.")
@click.option("--param", "params", multiple=True, metavar="KEY=SPEC",
              help="A parameter and its values (repeat).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def command(words: tuple[str, ...], run: str | None, params: tuple[str, ...],
            as_json: bool) -> None:
    """Define, list or show templates.

    \b
    prov template NAME --from RUN --param KEY=SPEC...   define NAME (again: a new version)
    prov template list                                   the latest version of each
    prov template show NAME[@vN]                         one template (the latest version)

    KEY: --lr or lr (an option's value, or a Hydra lr=VALUE operand), @N (the N-th word after
    the program), @=VALUE (the word that is VALUE), env:NAME (an environment variable), or
    FILE:KEY.PATH (a key of a YAML, JSON, TOML or .prototxt file the run read).
    SPEC: a list 0.1,0.01; a range 0.001:0.1:x10 (geometric) or 16:128:+16 (arithmetic),
    both including the end when they hit it; or one value.
    """
    from provgraph.errors import BadInput
    from provgraph.project import Project

    project = Project()
    try:
        if words[0] == "list" and run is None:
            if len(words) > 1 or params:
                raise BadInput("prov template list takes no arguments")
            listing = project.templates()
            if as_json:
                json_out(listing.to_dict())
                return
            if not listing.templates:
                click.echo("No templates (prov template NAME --from RUN --param KEY=SPEC).")
            for template in listing.templates:
                _print(template)
            return
        if words[0] == "show" and run is None:
            if len(words) != 2 or params:
                raise BadInput("write: prov template show NAME")
            template = project.template_show(words[1])
        else:
            if len(words) != 1:
                raise BadInput("write: prov template NAME --from RUN --param KEY=SPEC...")
            if words[0] in ("list", "show"):
                raise BadInput(f"{words[0]!r} cannot name a template (prov template {words[0]} "
                               "is a command)")
            if run is None:
                raise BadInput("name the run to make the template of: --from RUN")
            template = project.template(words[0], run, list(params))
        if as_json:
            json_out(template.to_dict())
        else:
            _print(template)
    finally:
        project.close()
