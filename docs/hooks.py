"""MkDocs hook: the reference pages' tables are generated at build time from the code itself.

A page holding ``<!-- gen:cli -->`` gets every command and flag from `gankit.cli.build_parser`;
``<!-- gen:config -->`` gets every config key with its type, default and declared constraint.
Nothing in these tables is written by hand, so they cannot drift from the parser or the declarations.
"""

from __future__ import annotations

import argparse
import dataclasses


def _cli_markdown() -> str:
    from gankit.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in commands._choices_actions}
    out = []
    for name, sub in commands.choices.items():
        out += [f"## gankit {name}", "", (helps.get(name) or sub.description or "").strip(), "",
                "| Flag | Default | Help |", "| --- | --- | --- |"]
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            flag = ", ".join(action.option_strings) or action.dest
            default = "" if action.default in (None, argparse.SUPPRESS) or action.option_strings == [] else action.default
            text = (action.help or "").replace("|", "\\|").replace("\n", " ")
            if "%(" in text:
                try:
                    text = text % {**vars(action), "prog": sub.prog, "default": action.default}
                except (KeyError, TypeError, ValueError):
                    pass
            out.append(f"| `{flag}` | `{default}` | {text} |" if default != "" else f"| `{flag}` | | {text} |")
        out.append("")
    return "\n".join(out)


def _describe(constraint) -> str:
    if hasattr(constraint, "describe"):
        return constraint.describe()
    return "one of " + ", ".join(f"`{n}`" for n in constraint.names())


def _config_markdown() -> str:
    from gankit.config import Config

    out = []
    for section in dataclasses.fields(Config):
        cls = section.type if isinstance(section.type, type) else type(section.default_factory())
        out += [f"## `{section.name}`", "", (cls.__doc__ or "").strip().split("\n\n")[0], "",
                "| Key | Type | Default | Constraint |", "| --- | --- | --- | --- |"]
        instance = cls()
        for f in dataclasses.fields(cls):
            constraint = f.metadata.get("constraint")
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            rule = _describe(constraint).replace("|", "\\|") if constraint is not None else ""
            out.append(f"| `{section.name}.{f.name}` | `{kind}` | `{getattr(instance, f.name)!r}` | {rule} |")
        out.append("")
    return "\n".join(out)


GENERATORS = {"<!-- gen:cli -->": _cli_markdown, "<!-- gen:config -->": _config_markdown}


def on_page_markdown(markdown: str, page, config, files) -> str:
    for marker, make in GENERATORS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown
