"""Load a policy file and say exactly what is wrong with it: file, line and field.

    >>> load_policy("proofkit").policy.severity("P1").respond_within
    >>> load_policy("./our-runbook.yaml")

Every problem found is reported at once (`PolicyError.issues`), each as
`file:line: field.path: message`. Lines come from the YAML node tree (`yaml.compose`), so a
pydantic error at `severities[1].respond_within` points at the line that key is on; a
missing key points at the mapping that lacks it.

YAML is read with YAML 1.2 rules for booleans and integers: `NO` stays the country code
and `17:00` stays a time (YAML 1.1 would read them as False and 1020).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from tocsin.policy.schema import Loc, Policy, PolicyProblems
from tocsin.policy.schema import dotted as _dotted

__all__ = [
    "LoadedPolicy",
    "PolicyError",
    "PolicyIssue",
    "bundled_policy_names",
    "load_policy",
    "load_policy_text",
]

_BUNDLED_PACKAGE = "tocsin.policy"
_BUNDLED_DIR = "bundled"


@dataclass(frozen=True)
class PolicyIssue:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class PolicyError(Exception):
    """A policy that cannot be used; `issues` lists every problem found, in file order."""

    def __init__(self, issues: list[PolicyIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy and the exact text it came from.

    `hash` is the SHA-256 of the file's bytes, so `sha256sum policy.yaml` matches it.
    """

    policy: Policy
    hash: str
    source: str
    text: str


# -- public API -------------------------------------------------------------------------------


def bundled_policy_names() -> list[str]:
    folder = resources.files(_BUNDLED_PACKAGE) / _BUNDLED_DIR
    return sorted(
        item.name[: -len(".yaml")] for item in folder.iterdir() if item.name.endswith(".yaml")
    )


def load_policy(ref: str) -> LoadedPolicy:
    """Load a bundled policy by name (`proofkit`) or a policy file by path."""
    if ref in bundled_policy_names():
        folder = resources.files(_BUNDLED_PACKAGE) / _BUNDLED_DIR
        data = (folder / f"{ref}.yaml").read_bytes()
        return _load_bytes(data, source=ref, file=f"{ref}.yaml")
    path = Path(ref)
    if not _looks_like_path(ref):
        raise PolicyError([_unknown_name(ref)])
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PolicyError([PolicyIssue(ref, None, "", f"cannot read: {error.strerror}")]) from None
    return _load_bytes(data, source=ref, file=ref)


def load_policy_text(text: str, *, source: str) -> LoadedPolicy:
    """Validate policy text; `source` names it in errors (a bundled name or a path)."""
    file = source if _looks_like_path(source) else f"{source}.yaml"
    return _load_bytes(text.encode("utf-8"), source=source, file=file)


# -- loading ----------------------------------------------------------------------------------


def _looks_like_path(ref: str) -> bool:
    return "/" in ref or "\\" in ref or ref.endswith((".yaml", ".yml")) or Path(ref).exists()


def _unknown_name(ref: str) -> PolicyIssue:
    names = ", ".join(bundled_policy_names())
    return PolicyIssue(
        ref, None, "", f"no bundled policy {ref!r} and no such file; bundled policies: {names}"
    )


def _load_bytes(data: bytes, *, source: str, file: str) -> LoadedPolicy:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PolicyError([PolicyIssue(file, None, "", f"not UTF-8 text: {error}")]) from None
    document, lines = _parse(text, file)
    try:
        policy = Policy.model_validate(document)
    except ValidationError as error:
        raise PolicyError(_issues(error, lines, file)) from None
    return LoadedPolicy(policy, hashlib.sha256(data).hexdigest(), source, text)


M = TypeVar("M", bound=BaseModel)


def load_yaml_model(text: str, *, file: str, model: type[M]) -> M:
    """Any YAML document Tocsin reads (policies, on-call configuration), validated into
    `model`, with every problem reported by file, line and field."""
    document, lines = _parse(text, file)
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise PolicyError(_issues(error, lines, file, model)) from None


def _parse(text: str, file: str) -> tuple[dict[str, Any], dict[Loc, int]]:
    try:
        root = yaml.compose(text, Loader=_PolicyLoader)
        document = yaml.load(text, Loader=_PolicyLoader)
    except yaml.YAMLError as error:
        raise PolicyError([_syntax_issue(error, text, file)]) from None
    if not isinstance(document, dict) or root is None:
        kind = "empty" if document is None else f"a {type(document).__name__}"
        message = f"a policy is a mapping with keys such as name, title, severities; got {kind}"
        raise PolicyError([PolicyIssue(file, 1, "", message)])
    lines: dict[Loc, int] = {}
    duplicates: list[PolicyIssue] = []
    _map_lines(root, (), lines, duplicates, file)
    if duplicates:
        raise PolicyError(duplicates)
    return document, lines


class _PolicyLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (true/false only) and plain decimal integers."""


_PolicyLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PolicyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_PolicyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)


def _map_lines(
    node: yaml.Node, loc: Loc, lines: dict[Loc, int], duplicates: list[PolicyIssue], file: str
) -> None:
    """Record the 1-based line of every path; a mapping key's line stands for its value."""
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                message = f"duplicate key {key!r}; YAML would silently keep only the last one"
                duplicates.append(PolicyIssue(file, line, _dotted((*loc, key)), message))
            seen.add(key)
            lines[(*loc, key)] = line
            _map_lines(value_node, (*loc, key), lines, duplicates, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _map_lines(item, (*loc, index), lines, duplicates, file)


# -- YAML syntax errors -----------------------------------------------------------------------


def _syntax_issue(error: yaml.YAMLError, text: str, file: str) -> PolicyIssue:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line = None if mark is None else mark.line + 1
    problem = getattr(error, "problem", None) or str(error)
    column = "" if mark is None else f" (column {mark.column + 1})"
    return PolicyIssue(
        file, line, _path_before_error(text), f"YAML syntax error: {problem}{column}"
    )


def _path_before_error(text: str) -> str:
    """The key path the parser was inside when it failed, from the events it did produce."""
    frames: list[list[Any]] = []  # [is_mapping, key or index, expecting_key]
    try:
        for event in yaml.parse(text, Loader=_PolicyLoader):
            _track(frames, event)
    except yaml.YAMLError:
        pass
    loc = tuple(frame[1] for frame in frames if frame[1] is not None and frame[1] != -1)
    return _dotted(loc)


def _track(frames: list[list[Any]], event: yaml.Event) -> None:
    if isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
        frames.pop()
        return
    if not isinstance(event, yaml.NodeEvent):
        return
    if frames:
        parent = frames[-1]
        if not parent[0]:
            parent[1] += 1
        elif parent[2]:
            parent[1], parent[2] = getattr(event, "value", None), False
        else:
            parent[2] = True
    if isinstance(event, yaml.MappingStartEvent):
        frames.append([True, None, True])
    elif isinstance(event, yaml.SequenceStartEvent):
        frames.append([False, -1, False])


# -- validation errors ------------------------------------------------------------------------


def _issues(
    error: ValidationError, lines: dict[Loc, int], file: str, root: type[BaseModel] = Policy
) -> list[PolicyIssue]:
    found: list[tuple[Loc, str]] = []
    for detail in error.errors():
        cause = (detail.get("ctx") or {}).get("error")
        if isinstance(cause, PolicyProblems):
            found.extend(cause.problems)
        else:
            found.append((tuple(detail["loc"]), _message(detail, root)))
    issues = [PolicyIssue(file, _line(loc, lines), _dotted(loc), message) for loc, message in found]
    return sorted(issues, key=lambda issue: issue.line or 0)


def _line(loc: Loc, lines: dict[Loc, int]) -> int | None:
    # A missing key has no line of its own: point at the nearest enclosing node.
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _message(detail: ErrorDetails, root: type[BaseModel]) -> str:
    kind, message = detail["type"], detail["msg"]
    if kind == "extra_forbidden":
        return _unknown_key(tuple(detail["loc"]), root)
    if kind == "missing":
        return "is required"
    return message.removeprefix("Value error, ")


def _unknown_key(loc: Loc, root: type[BaseModel]) -> str:
    key = str(loc[-1])
    allowed = _keys_at(loc[:-1], root)
    if not allowed:
        return f"unknown key {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {key!r}; {hint}allowed: {', '.join(allowed)}"


def _keys_at(loc: Loc, root: type[BaseModel]) -> list[str]:
    """The keys the model at `loc` accepts, found by walking the schema's annotations."""
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field = next(
            (f for name, f in model.model_fields.items() if (f.alias or name) == part), None
        )
        model = None if field is None else _model_in(field.annotation)
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
