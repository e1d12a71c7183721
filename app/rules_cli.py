"""`lookout rules apply FILE.yaml [--dry-run]`, `lookout rules export` and `lookout rules test CHANNEL`.

The alerting modules are imported when a rules command runs, as the other commands do, so building the
parser stays cheap for every `lookout` command.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from lookout.settings import Settings


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def register(sub: argparse._SubParsersAction) -> None:
    rules = sub.add_parser("rules", help="alert rules as code: apply a YAML file, export, test a channel")
    actions = rules.add_subparsers(dest="action", required=True, metavar="ACTION")
    apply = actions.add_parser("apply", help="create or update the channels and rules of a YAML file (shows a diff)")
    apply.add_argument("file", help="the rules file: {channels: [...], rules: [...]}")
    apply.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    export = actions.add_parser("export", help="print every channel (without secrets) and rule as YAML")
    export.add_argument("--output", "-o", help="write to this file instead of standard output")
    test = actions.add_parser("test", help="send a test notification through a channel now")
    test.add_argument("channel", help="the channel's name")
    rules.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import yaml

    from alerts import delivery, ruleset

    if args.action == "apply":
        return _apply(settings, Path(args.file), args.dry_run)
    if args.action == "export":
        text = yaml.safe_dump(ruleset.export(settings), sort_keys=False, allow_unicode=True)
        if args.output:
            Path(args.output).write_text(text)
        else:
            sys.stdout.write(text)
        return 0
    outcome = delivery.send_test(settings, args.channel)
    print(f"{args.channel}: {outcome}", flush=True)
    return 0 if outcome.ok else 1


def _apply(settings: Settings, path: Path, dry_run: bool) -> int:
    import yaml

    from alerts import ruleset
    from alerts.rules import RuleError, parse_document

    try:
        document = yaml.safe_load(path.read_text())
        wanted = parse_document(document, str(path))
        changes = ruleset.apply(settings, wanted, str(path), _actor(), dry_run=dry_run)
    except yaml.YAMLError as exc:
        print(f"{path}: not valid YAML: {exc}", file=sys.stderr, flush=True)
        return 1
    except RuleError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr, flush=True)
        print(f"{len(exc.problems)} problem(s); nothing was applied", file=sys.stderr, flush=True)
        return 1
    for change in changes:
        print(change, flush=True)
    counts = {a: sum(1 for c in changes if c.action == a) for a in ("create", "update", "unchanged")}
    summary = f"{counts['create']} to create, {counts['update']} to update, {counts['unchanged']} unchanged"
    print(f"dry run: {summary}; nothing was applied" if dry_run else f"applied: {summary}", flush=True)
    return 0
