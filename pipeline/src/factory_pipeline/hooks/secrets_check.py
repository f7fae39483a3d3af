"""Refuse plaintext secrets before they reach git (`gitops-check-secrets`, a pre-commit hook).

Why: the hand-run pipeline this repository replaces committed the registry's htpasswd file
and hard-coded the registry password in a workflow. Secrets belong in the environment, a
`.env` that git ignores, or the secrets directory the reconciler resolves; gitops/ YAML only
names them. This hook fails the commit, with file:line and how to fix it, when:

- a committed file is an environment or htpasswd file (`.env`, `.env.prod`, `htpasswd`,
  `*.htpasswd`, or any file whose lines look like `user:$2y$…` bcrypt entries);
- a gitops/ YAML key that names a secret (password, token, api_key, …) holds a literal value
  instead of one of the references this repository uses: the mapping `{secret: name}` (what
  the reconciler resolves, README "Secrets"), a `*_FILE` key naming a file, or an
  environment placeholder written exactly `${UPPER_CASE_NAME}` (the form this hook's fix
  message has always documented). Nothing else passes as a reference: `<hunter2>`,
  `$abc123`, `{{x}}` or `secret:x` strings are values as far as anything here is concerned,
  so they are refused rather than trusted. Fields that hold a secret's *name* by this
  repository's convention (`*_secret` keys, keys under `credentials:`) may hold a
  lower-case name such as `registry-ci-password`, never a value-shaped string;
- any gitops/ file contains key material (PEM private keys, Tailscale `tskey-` keys, URLs with
  `user:password@`).

A line that must stay as it is can carry the pragma `gitops: allow-secret` in a comment.
The hook reads only the files it is given and never prints a secret's value.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

PRAGMA = "gitops: allow-secret"
ENV_FILE_ALLOWED = frozenset({".env.example", ".env.sample", ".env.template"})

# Keys whose value is a secret. Matched on the lower-cased key split into words.
SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "secret",
        "token",
        "apikey",
        "authkey",
        "credential",
        "credentials",
        "privatekey",
        "pat",
    }
)
SECRET_PAIRS = (
    ("api", "key"),
    ("auth", "key"),
    ("private", "key"),
    ("access", "key"),
    ("client", "secret"),
    ("secret", "key"),
)
# Keys that hold a *reference* to a secret (its name or file), never the secret itself.
REFERENCE_KEYS = frozenset(
    {
        "secret",
        "secrets",
        "from_secret",
        "secret_ref",
        "secretref",
        "secret_name",
        "secretname",
        "valuefrom",
        "value_from",
    }
)
REFERENCE_SUFFIXES = ("_file", "_path", "_env", "_ref", "_name", "_uri", "_url")
# The only string that counts as a reference: `${NAME}` with an environment variable's name
# (upper case, as stack.yaml documents the environment names of secrets). `{secret: name}`
# is a mapping, never a string, so the walk below never mistakes it for a value.
REFERENCE_VALUE = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*\}$")
# Fields that name a secret by convention in gitops/ (`password_secret: registry-ci-password`,
# `credentials: {api_key: tailscale_api_key}`) hold a name: lower-case words joined by - or _
# (words of letters, or numbers). A value with letters and digits mixed in one word, upper
# case or symbols is a value, not a name, and is refused.
NAME_SHAPE = re.compile(r"^[a-z]+(?:[-_](?:[a-z]+|[0-9]+))+$")
NAMING_PARENTS = frozenset({"credentials", "secrets"})
CONTENT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a PEM private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a Tailscale key", re.compile(r"\btskey-(auth|api|client|scim|webhook)-[A-Za-z0-9]+-\w+")),
    ("a bcrypt htpasswd entry", re.compile(r"^\s*[^\s:#]+:\$2[aby]?\$\d\d\$[./A-Za-z0-9]{53}\s*$")),
    ("a URL with a password", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@${}]+@[^\s]+")),
)


@dataclass(frozen=True)
class Finding:
    """One refused location: where, what, and how to fix it (never the secret itself)."""

    path: str
    line: int
    problem: str
    fix: str

    def render(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}\n    fix: {self.fix}"


def _words(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def is_secret_key(key: str) -> bool:
    """True when a key names a secret value (`password`, `API_TOKEN`, `clientSecret`)."""
    lowered = key.lower()
    if lowered in REFERENCE_KEYS or lowered.endswith(REFERENCE_SUFFIXES):
        return False
    words = _words(key)
    if any(w in SECRET_WORDS for w in words):
        return True
    pairs = set(itertools.pairwise(words))
    return any(pair in pairs for pair in SECRET_PAIRS)


def is_reference(value: str) -> bool:
    """True when a scalar names where a secret lives instead of holding it."""
    stripped = value.strip()
    return not stripped or bool(REFERENCE_VALUE.match(stripped))


def is_env_file(path: PurePosixPath) -> bool:
    name = path.name
    if name in ENV_FILE_ALLOWED:
        return False
    return name == ".env" or name.startswith(".env.") or name.endswith(".env")


def is_htpasswd_name(path: PurePosixPath) -> bool:
    return path.name == "htpasswd" or path.name.endswith(".htpasswd")


def _allowed(lines: Sequence[str], line: int) -> bool:
    return 0 < line <= len(lines) and PRAGMA in lines[line - 1]


def _yaml_findings(path: str, text: str, lines: Sequence[str]) -> Iterator[Finding]:
    yaml = YAML(typ="rt")
    try:
        documents = list(yaml.load_all(text))
    except YAMLError:
        return  # syntax errors are the check-yaml hook's job; content checks still ran
    for document in documents:
        yield from _walk(path, document, lines)


def _literal_finding(path: str, line: int, key: str) -> Finding:
    return Finding(
        path,
        line,
        f"'{key}' holds a plaintext secret",
        "put the value in the environment, .env (git-ignored) or .secrets/, and reference it"
        f" by name here: '{key}: {{secret: {key.lower()}}}'",
    )


def names_a_secret(key: str, parent: str | None, value: str) -> bool:
    """True for `password_secret: registry-ci-password`: a field that holds a secret's name."""
    naming_field = key.lower().endswith("_secret") or (parent or "").lower() in NAMING_PARENTS
    return naming_field and bool(NAME_SHAPE.match(value.strip()))


def _walk(
    path: str, node: object, lines: Sequence[str], parent: str | None = None
) -> Iterator[Finding]:
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            line = node.lc.key(key)[0] + 1
            if (
                isinstance(key, str)
                and is_secret_key(key)
                and isinstance(value, str)
                and not is_reference(value)
                and not names_a_secret(key, parent, value)
                and not _allowed(lines, line)
            ):
                yield _literal_finding(path, line, key)
            yield from _walk(path, value, lines, key if isinstance(key, str) else None)
    elif isinstance(node, CommentedSeq):
        for index, item in enumerate(node):
            line = node.lc.item(index)[0] + 1
            if isinstance(item, str) and "=" in item:
                key, _, value = item.partition("=")
                if is_secret_key(key) and not is_reference(value) and not _allowed(lines, line):
                    yield _literal_finding(path, line, key)
            yield from _walk(path, item, lines, parent)


def _content_findings(path: str, lines: Sequence[str]) -> Iterator[Finding]:
    for number, line in enumerate(lines, start=1):
        if PRAGMA in line:
            continue
        for what, pattern in CONTENT_PATTERNS:
            if pattern.search(line):
                yield Finding(
                    path,
                    number,
                    f"contains {what}",
                    "keep key material out of git: store it in .secrets/ or the environment and"
                    " reference it by name",
                )


def check_file(path: str, text: str) -> list[Finding]:
    """Every reason to refuse committing `text` as `path` (a repository-relative path)."""
    posix = PurePosixPath(path.replace("\\", "/"))
    lines = text.splitlines()
    if is_env_file(posix):
        return [
            Finding(
                path,
                1,
                "environment files hold secrets and are never committed",
                f"git rm --cached {path}; keep it local (.gitignore has .env) or commit a"
                " .env.example with placeholder values",
            )
        ]
    if is_htpasswd_name(posix):
        return [
            Finding(
                path,
                1,
                "htpasswd files hold credentials and are never committed",
                f"git rm --cached {path}; the registry kind generates htpasswd from the"
                " registry password secret",
            )
        ]
    findings: list[Finding] = []
    in_gitops = posix.parts[:1] == ("gitops",)
    if in_gitops:
        findings.extend(_content_findings(path, lines))
        if posix.suffix in {".yaml", ".yml"}:
            findings.extend(_yaml_findings(path, text, lines))
    else:
        htpasswd = CONTENT_PATTERNS[2][1]
        findings.extend(
            Finding(
                path,
                n,
                "contains a bcrypt htpasswd entry",
                f"git rm --cached {path}; htpasswd files are generated, never committed",
            )
            for n, line in enumerate(lines, start=1)
            if htpasswd.search(line) and PRAGMA not in line
        )
    return sorted(set(findings), key=lambda f: (f.path, f.line, f.problem))


def _read(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None  # binary files carry no YAML secrets we can judge
    return data.decode("utf-8", errors="replace")


def main(argv: Sequence[str] | None = None) -> int:
    """Check the files pre-commit passes; exit 1 with one report line per finding."""
    parser = argparse.ArgumentParser(
        prog="gitops-check-secrets", description=__doc__.split("\n")[0]
    )
    parser.add_argument("files", nargs="*", help="repository-relative paths to check")
    args = parser.parse_args(argv)
    findings: list[Finding] = []
    for name in args.files:
        path = Path(name)
        if is_env_file(PurePosixPath(name)) or is_htpasswd_name(PurePosixPath(name)):
            findings.extend(check_file(name, ""))
            continue
        text = _read(path)
        if text is not None:
            findings.extend(check_file(name, text))
    for finding in findings:
        print(finding.render(), file=sys.stderr)
    if findings:
        print(f"gitops-check-secrets: refused {len(findings)} plaintext secret(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
