"""`lookout accounts ...`: manage dashboard accounts from the shell.

Passwords are read from a prompt (twice, not echoed) or, when standard input is
not a terminal, from its first line: never from argv, which other users of the
machine can read in the process list.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from access import accounts
from access.errors import AccessError
from access.keys import cli_actor
from lookout.settings import Settings
from warehouse.queries.accounts import ROLES


def read_password(prompt: str = "Password: ") -> str:
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise AccessError("no password on standard input (send it as the first line)")
        return line.rstrip("\r\n")
    first = getpass.getpass(prompt)
    if getpass.getpass("Again: ") != first:
        raise AccessError("the two passwords differ")
    return first


def _say(message: str) -> None:
    print(message, flush=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    actor = cli_actor()
    if args.action == "list":
        _say(f"{'ID':>4}  {'EMAIL':<32} {'ROLE':<9} {'STATE':<9} LAST LOGIN")
        for account in accounts.list_all(settings):
            state = "disabled" if account.disabled_at else "active"
            last = account.last_login_at.strftime("%Y-%m-%d %H:%M") if account.last_login_at else "never"
            _say(f"{account.id:>4}  {account.email:<32} {account.role:<9} {state:<9} {last}")
        return 0
    if args.action == "create":
        password = accounts.passwords.check_policy(read_password())
        created = accounts.create(settings, args.email, password, args.role, actor)
        _say(f"created account {created.id} {created.email} ({created.role})")
        return 0
    account_id = accounts.resolve(settings, args.account)
    if args.action == "set-role":
        changed = accounts.set_role(settings, account_id, args.role, actor)
        _say(f"account {changed.id} {changed.email} is now {changed.role}; its sessions were ended")
    elif args.action in ("disable", "enable"):
        changed = accounts.set_disabled(settings, account_id, args.action == "disable", actor)
        _say(f"account {changed.id} {changed.email} {args.action}d")
    else:
        changed = accounts.reset_password(settings, account_id, read_password("New password: "), actor)
        _say(f"password of account {changed.id} {changed.email} reset; its sessions were ended")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("accounts", help="create, list and manage dashboard accounts (roles, disable, passwords)")
    actions = cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create an account (password from a prompt or standard input)")
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    actions.add_parser("list", help="list accounts with their role and state")
    set_role = actions.add_parser("set-role", help="change an account's role (ends its sessions)")
    set_role.add_argument("account", help="the account's email or id")
    set_role.add_argument("--role", required=True, choices=ROLES)
    for name, text in (
        ("disable", "stop an account: its sessions and tokens stop working at once"),
        ("enable", "let a disabled account sign in again"),
        ("reset-password", "set a new password (from a prompt or standard input); ends its sessions"),
    ):
        actions.add_parser(name, help=text).add_argument("account", help="the account's email or id")
    cmd.set_defaults(func=run)
