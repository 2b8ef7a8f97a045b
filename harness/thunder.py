"""Thunder Client collections and environments: read them, fill their variables, and judge a response by their tests.

Three spellings of the same thing are read into one model (docs/architecture.md, "Thunder Client collections"):

* Thunder Client's own export (``client`` / ``collectionName``, requests with ``_id``/``colId``, tests
  ``{type, custom, action, value}``: the JSON path or header name in ``custom``, the operator in ``action``);
* the hand-written dialect of ProspectPro's team files (``clientName`` / ``collectionId``, requests with ``id``,
  tests ``{type, value, action}``: the JSON path or header name in ``value``, operator and operand together in
  ``action`` such as ``"istype object"``, and a status list such as ``"200,429,504"``);
* the runbook's request snippets (headers and body as JSON objects, tests ``{type, value, name}`` with numbers).

Which spelling a test uses is decided per test (a ``custom`` key means Thunder's own), so a file that mixes them
still reads. Anything this module cannot read is an ``InputError`` naming the file and the key (exit 1 at the CLI);
a test type or operator it does not know is kept and fails as "unsupported test" when evaluated, never passes.

Pure: no network, no Locust. harness/health.py sends the requests; harness/thunder_locust.py turns them into load.
"""

from __future__ import annotations

import json
import random
import re
import string
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from analysis.errors import InputError
from analysis.jsonfiles import read_json

WHAT_COLLECTION = "a Thunder Client collection (exported JSON)"
WHAT_ENVIRONMENT = "a Thunder Client environment (exported JSON)"

# Operators, by every spelling seen in exports and hand-written files -> one canonical name.
OPERATORS = {
    "equal": "equal", "equals": "equal", "=": "equal", "==": "equal", "eq": "equal",
    "notequal": "notequal", "notequals": "notequal", "!=": "notequal", "ne": "notequal",
    "contains": "contains", "notcontains": "notcontains", "!contains": "notcontains",
    "<": "<", "<=": "<=", ">": ">", ">=": ">=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=",
    "istype": "istype", "type": "istype", "count": "count", "length": "count",
    "isjson": "isjson", "regex": "regex", "startswith": "startswith", "endswith": "endswith",
    "setto": "setto",
}  # fmt: skip
HEADER_TYPES = {"content-type": "Content-Type", "content-length": "Content-Length",
                "content-encoding": "Content-Encoding"}  # fmt: skip
TYPE_NAMES = ("string", "number", "boolean", "object", "array", "null", "undefined")
SECRET_NAME = re.compile(r"jwt|token|key|secret|password", re.IGNORECASE)
_VARIABLE = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_MISSING = object()  # a JSON query that found nothing (Thunder's `undefined`)


class UnsupportedQuery(ValueError):
    """A JSON query this reader cannot follow (Thunder's array filters such as ``json.items[?id=5]``)."""


# --- the model ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Test:
    """One check of a response (or a set-env-var step, which passes when its source value exists)."""

    __test__ = False  # not a pytest test class

    kind: str  # res-code, res-time, res-body, json-query, header, set-env-var (or the unknown type as written)
    target: str  # JSON path, header name, or set-env-var source; "" when the kind needs none
    op: str  # a canonical operator (OPERATORS values), "oneof" for a status list, or the unknown one as written
    expected: str  # the operand as text (a variable name for set-env-var)
    label: str  # how reports name it: the test's own name, else "kind target op expected"

    @property
    def supported(self) -> bool:
        return self.kind in _EVALUATORS and (self.kind == "set-env-var" or self.op in _OPS_BY_KIND[self.kind])


@dataclass(frozen=True)
class Request:
    key: str  # the request's id (`_id` or `id`), else its name: how known drift and results refer to it
    name: str
    method: str
    url: str  # with {{variables}}
    headers: tuple[tuple[str, str], ...]
    body: str | None
    tests: tuple[Test, ...]
    folder: str = ""


@dataclass(frozen=True)
class Collection:
    path: Path
    name: str
    key: str  # collectionId / _id, else the name
    requests: tuple[Request, ...]
    description: str = ""


# --- reading ---------------------------------------------------------------------------------------------------------
def load_collection(path: str | Path) -> Collection:
    """One collection file (any of the three spellings); a runbook snippet holding one request is a collection too."""
    path = Path(path)
    data = read_json(path, what=WHAT_COLLECTION)
    if isinstance(data, dict) and "requests" not in data and "url" in data:
        data = {"collectionName": data.get("name") or path.stem, "requests": [data]}  # a single runbook request
    if not isinstance(data, dict) or not isinstance(data.get("requests"), list):
        raise InputError("not a Thunder Client collection: no 'requests' list", path=path, hint=f"expected {WHAT_COLLECTION}")
    name = _text(data.get("collectionName") or data.get("colName") or data.get("name") or path.stem)
    key = _text(data.get("collectionId") or data.get("_id") or name)
    settings = data["settings"] if isinstance(data.get("settings"), dict) else {}
    folders = {}
    for index, folder in enumerate(data.get("folders") or []):
        if not isinstance(folder, dict):
            raise InputError("a folder must be an object", path=path, key=f"folders[{index}]")
        folders[_text(folder.get("_id") or folder.get("id") or folder.get("name"))] = folder
    requests = []
    for index, raw in enumerate(data["requests"]):
        where = f"requests[{index}]"
        if not isinstance(raw, dict):
            raise InputError("a request must be an object", path=path, key=where)
        requests.append((_order(raw, folders), _request(raw, settings, folders, path, where)))
    requests.sort(key=lambda pair: pair[0])
    description = data.get("description") or settings.get("docs") or ""
    if isinstance(description, list):
        description = "\n".join(str(line) for line in description)
    return Collection(path, name, key, tuple(request for _, request in requests), _text(description))


def load_environment(path: str | Path) -> dict[str, str]:
    """Variables of an environment file: Thunder's export (``variables``), its git-sync file (``data``), or a plain
    JSON object of names to values."""
    path = Path(path)
    data = read_json(path, what=WHAT_ENVIRONMENT)
    entries = (data.get("variables") or data.get("data")) if isinstance(data, dict) else None
    if isinstance(entries, list):
        variables = {}
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise InputError("a variable needs a name", path=path, key=f"variables[{index}]")
            variables[entry["name"]] = _text(entry.get("value"))
        return variables
    if isinstance(data, dict) and all(not isinstance(v, (dict, list)) for v in data.values()):
        return {str(k): _text(v) for k, v in data.items()}
    raise InputError("not a Thunder Client environment: no 'variables' list", path=path, hint=f"expected {WHAT_ENVIRONMENT}")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _order(raw: dict, folders: dict[str, dict]) -> tuple:
    """Thunder runs a collection in tree order: by sortNum within each folder, folders by theirs."""
    chain, container, seen = [], _text(raw.get("containerId")), set()
    while container and container in folders and container not in seen:
        seen.add(container)
        chain.append(_number(folders[container].get("sortNum")))
        container = _text(folders[container].get("containerId"))
    return (*reversed(chain), _number(raw.get("sortNum")))


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _request(raw: dict, settings: dict, folders: dict[str, dict], path: Path, where: str) -> Request:
    url = raw.get("url")
    if not isinstance(url, str) or not url.strip():
        raise InputError("a request needs a 'url'", path=path, key=f"{where}.url")
    method = raw.get("method", "GET")
    if not isinstance(method, str) or not method.strip():
        raise InputError("'method' must be a text such as POST", path=path, key=f"{where}.method")
    name = _text(raw.get("name") or url)
    headers = _headers(settings.get("headers"), path, "settings.headers") + _headers(raw.get("headers"), path, f"{where}.headers")
    auth = _auth(raw, settings, folders)
    if auth and not any(n.lower() == "authorization" for n, _ in headers):
        headers.append(("Authorization", auth))
    body, content_type = _body(raw.get("body"), path, f"{where}.body")
    if content_type and not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", content_type))
    raw_tests = raw.get("tests") or []
    if not isinstance(raw_tests, list):
        raise InputError("'tests' must be a list", path=path, key=f"{where}.tests")
    collection_tests = settings["tests"] if isinstance(settings.get("tests"), list) else []
    tests = tuple(_test(t, path, f"{where}.tests[{i}]") for i, t in enumerate([*raw_tests, *collection_tests]))
    folder = folders.get(_text(raw.get("containerId")), {})
    return Request(_text(raw.get("_id") or raw.get("id") or name), name, method.strip().upper(), url.strip(),
                   tuple(headers), body, tests, _text(folder.get("name")))  # fmt: skip


def _headers(raw: Any, path: Path, where: str) -> list[tuple[str, str]]:
    if raw is None:
        return []
    if isinstance(raw, dict):  # the runbook's {"Authorization": "Bearer {{jwt}}"}
        return [(str(k), _text(v)) for k, v in raw.items()]
    if not isinstance(raw, list):
        raise InputError("'headers' must be a list of {name, value} or an object", path=path, key=where)
    headers = []
    for index, header in enumerate(raw):
        if not isinstance(header, dict) or not isinstance(header.get("name"), str):
            raise InputError("a header needs a 'name'", path=path, key=f"{where}[{index}]")
        if not header.get("isDisabled"):
            headers.append((header["name"], _text(header.get("value"))))
    return headers


def _auth(raw: dict, settings: dict, folders: dict[str, dict]) -> str | None:
    """The Authorization value from Thunder's auth tab: the request's own, else inherited (folders, collection)."""
    candidates = [raw.get("auth")]
    container, seen = _text(raw.get("containerId")), set()
    while container and container in folders and container not in seen:
        seen.add(container)
        folder_settings = folders[container].get("settings")
        candidates.append(folder_settings.get("auth") if isinstance(folder_settings, dict) else None)
        container = _text(folders[container].get("containerId"))
    candidates.append(settings.get("auth"))
    for auth in candidates:
        if not isinstance(auth, dict):
            continue
        kind = auth.get("type")
        if kind in (None, "inherit"):
            continue
        if kind == "bearer":
            prefix = _text(auth.get("bearerPrefix")) or "Bearer"
            return f"{prefix} {_text(auth.get('bearer'))}"
        return None  # "none", or a kind this harness does not send (basic, oauth2, ...): no Authorization header
    return None


def _body(raw: Any, path: Path, where: str) -> tuple[str | None, str | None]:
    if raw is None:
        return None, None
    if isinstance(raw, dict) and "type" not in raw:  # the runbook's body written as the JSON itself
        return json.dumps(raw), "application/json"
    if isinstance(raw, list):
        return json.dumps(raw), "application/json"
    if not isinstance(raw, dict):
        raise InputError("'body' must be an object", path=path, key=where)
    kind = raw.get("type") or "none"
    if kind == "none":
        return None, None
    if kind in ("json", "text", "xml", "graphql"):
        text = raw.get("raw")
        if kind == "graphql" and isinstance(raw.get("graphql"), dict):
            text = json.dumps(raw["graphql"])
        types = {"json": "application/json", "text": "text/plain", "xml": "application/xml", "graphql": "application/json"}
        return _text(text), types[kind]
    if kind == "formencoded":
        form = [f for f in raw.get("form") or [] if isinstance(f, dict) and not f.get("isDisabled")]
        return "&".join(f"{quote(_text(f.get('name')))}={quote(_text(f.get('value')))}" for f in form), \
            "application/x-www-form-urlencoded"
    raise InputError(f"body type {kind!r} is not supported (json, text, xml, graphql, formencoded, none)", path=path,
                     key=f"{where}.type")  # fmt: skip


def _test(raw: Any, path: Path, where: str) -> Test:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise InputError("a test needs a 'type'", path=path, key=where)
    kind = raw["type"].strip()
    name = _text(raw.get("name")).strip()
    value = _text(raw.get("value")).strip()
    action = _text(raw.get("action")).strip()
    if "custom" in raw:  # Thunder's export: {type, custom, action, value}
        target = _text(raw.get("custom")).strip()
        if kind.lower() in HEADER_TYPES:
            kind, target = "header", HEADER_TYPES[kind.lower()]
        elif kind == "custom-header":
            kind = "header"
        op = OPERATORS.get(action.lower(), action)
        if kind == "set-env-var":
            return Test(kind, target, "setto", _variable_name(value), name or f"set-env-var {target} -> {value}")
        if kind == "res-body" and target:  # a JSON path written under res-body (seen in hand-edited exports)
            kind = "json-query"
        return Test(kind, target, op, value, name or " ".join(p for p in (kind, target, action, value) if p))
    # The team's dialect {type, value, action} and the runbook's {type, value, name}.
    if kind == "json-query" or kind == "header" or kind.lower() in HEADER_TYPES:
        target = value
        if kind.lower() in HEADER_TYPES:
            kind, target = "header", HEADER_TYPES[kind.lower()]
        word, _, operand = action.partition(" ")
        op = OPERATORS.get(word.lower(), word)
        return Test(kind, target, op, operand.strip(), name or f"{kind} {target} {action}".strip())
    if kind == "set-env-var":
        return Test(kind, value, "setto", _variable_name(action), name or f"set-env-var {value} -> {action}")
    if kind == "res-code":
        codes = [code.strip() for code in value.split(",") if code.strip()]
        op = OPERATORS.get(action.lower(), action) if action else ("oneof" if len(codes) > 1 else "equal")
        return Test(kind, "", op, ",".join(codes), name or f"res-code {value}")
    if kind == "res-time":
        op = OPERATORS.get(action.lower(), action) if action else "<"
        return Test(kind, "", op, value, name or f"res-time {op} {value} ms")
    if kind == "res-body":
        op = OPERATORS.get(action.lower(), action) if action else "contains"
        return Test(kind, "", op, value, name or f"res-body {op} {value}".strip())
    return Test(kind, value, OPERATORS.get(action.lower(), action), "", name or f"{kind} {value} {action}".strip())


def _variable_name(text: str) -> str:
    """``{{token}}`` or ``{{token, local}}`` -> ``token`` (a scope is ignored: one environment per run)."""
    match = _VARIABLE.fullmatch(text.strip())
    inner = match.group(1) if match else text.strip()
    return inner.split(",")[0].strip()


# --- variables ------------------------------------------------------------------------------------------------------
@dataclass
class Variables:
    """The run's environment: values by name, which of them are secrets (never printed whole), what is unresolved."""

    values: dict[str, str] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    rng: random.Random = field(default_factory=random.Random)

    def set(self, name: str, value: str, *, secret: bool | None = None) -> None:
        self.values[name] = value
        if secret or (secret is None and SECRET_NAME.search(name)):
            self.secrets.add(name)

    def fill(self, text: str, context: dict[str, str] | None = None) -> tuple[str, list[str]]:
        """``text`` with every ``{{name}}`` replaced; also returns the names that had no value (left as written,
        as Thunder leaves them). System variables: ``{{$timestamp}}``, ``{{#guid}}``, ``{{#number, 1, 9}}``, ..."""
        unresolved: list[str] = []

        def one(match: re.Match) -> str:
            name = match.group(1)
            if name in self.values:
                return self.values[name]
            if context and name in context:
                return context[name]
            generated = self._system(name)
            if generated is not None:
                return generated
            unresolved.append(name)
            return match.group(0)

        return _VARIABLE.sub(one, text), unresolved

    def _system(self, name: str) -> str | None:
        if name == "$timestamp":
            return str(int(time.time()))
        if name in ("$guid", "$randomUUID"):
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        if not name.startswith("#"):
            return None
        head, *args = [part.strip() for part in name[1:].split(",")]
        rng = self.rng
        if head == "guid":
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if head == "string":
            return "".join(rng.choice(string.ascii_letters) for _ in range(10))
        if head == "name":
            return rng.choice(["Ada", "Grace", "Alan", "Edsger", "Barbara"]) + " " + rng.choice(["Lovelace", "Hopper"])
        if head == "email":
            return f"user{rng.randint(1, 10**6)}@example.test"
        if head == "number":
            low, high = (int(args[0]), int(args[1])) if len(args) == 2 and all(a.lstrip("-").isdigit() for a in args) else (1, 1_000_000)
            return str(rng.randint(low, high))
        if head == "bool":
            return rng.choice(["true", "false"])
        if head == "enum" and args:
            return rng.choice(args)
        if head == "date":
            return str(int(time.time() * 1000)) if not args else str(int(time.time()))
        if head == "dateISO":
            return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return None

    def redact(self, text: str) -> str:
        """``text`` with every secret's value replaced by a preview (first 8 characters and the length)."""
        for name in self.secrets:
            value = self.values.get(name, "")
            if len(value) >= 8 and value in text:
                text = text.replace(value, f"{value[:8]}…({len(value)} chars)")
        return text


@dataclass(frozen=True)
class PreparedRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    unresolved: tuple[str, ...]


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL, lower-case ("" when it has none): what "the target" means for a request."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def prepare(request: Request, variables: Variables, collection: Collection) -> PreparedRequest:
    """The request with its variables filled, ready to send."""
    context = {"request_name": request.name, "collection_name": collection.name, "folder_name": request.folder}
    missing: list[str] = []

    def fill(text: str) -> str:
        filled, unresolved = variables.fill(text, context)
        missing.extend(name for name in unresolved if name not in missing)
        return filled

    url = fill(request.url)
    headers = tuple((name, fill(value)) for name, value in request.headers)
    body = fill(request.body).encode() if request.body is not None else None
    return PreparedRequest(request.method, url, headers, body, tuple(missing))


# --- judging a response ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Response:
    """What came back (status 0 and ``error`` when nothing did)."""

    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    elapsed_ms: float
    error: str | None = None

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return _MISSING


@dataclass(frozen=True)
class Outcome:
    passed: bool
    detail: str  # what was found, for the report ("got 503", "$.user: undefined")
    supported: bool = True
    sets: tuple[str, str] | None = None  # a set-env-var's (name, value)


def evaluate(test: Test, response: Response) -> Outcome:
    """Judge one response by one test. Never raises: a test it cannot evaluate fails as "unsupported test"."""
    if not test.supported:
        return Outcome(False, f"unsupported test: type {test.kind!r} with action {test.op!r}", supported=False)
    if response.error is not None:
        return Outcome(False, f"no response: {response.error}")
    try:
        return _EVALUATORS[test.kind](test, response)
    except UnsupportedQuery as error:
        return Outcome(False, f"unsupported test: {error}", supported=False)
    except (ValueError, TypeError) as error:
        return Outcome(False, f"cannot evaluate: {error}")


def _res_code(test: Test, response: Response) -> Outcome:
    got = f"got {response.status}"
    if test.op == "oneof":
        return Outcome(str(response.status) in test.expected.split(","), got)
    return Outcome(_compare(response.status, test.op, test.expected), got)


def _res_time(test: Test, response: Response) -> Outcome:
    return Outcome(_compare(response.elapsed_ms, test.op, test.expected), f"took {response.elapsed_ms:.0f} ms")


def _res_body(test: Test, response: Response) -> Outcome:
    text = response.body.decode("utf-8", errors="replace")
    if test.op == "isjson":
        is_json = response.json() is not _MISSING
        wanted = test.expected.lower() not in ("false", "0")
        return Outcome(is_json == wanted, "body is JSON" if is_json else "body is not JSON")
    return Outcome(_compare(text, test.op, test.expected), f"body: {_short(text)}")


def _header(test: Test, response: Response) -> Outcome:
    value = response.headers.get(test.target.lower())
    if value is None:
        return Outcome(False, f"{test.target}: no such header")
    return Outcome(_compare(value, test.op, test.expected), f"{test.target}: {_short(value)}")


def _json_query(test: Test, response: Response) -> Outcome:
    document = response.json()
    if document is _MISSING:
        return Outcome(False, f"body is not JSON: {_short(response.body.decode('utf-8', errors='replace'))}")
    value = query(document, test.target)
    shown = "undefined" if value is _MISSING else _short(json.dumps(value))
    return Outcome(_compare(value, test.op, test.expected), f"{test.target}: {shown}")


def _set_env_var(test: Test, response: Response) -> Outcome:
    source = test.target
    if source in ("null", ""):
        return Outcome(True, f"{test.expected} cleared", sets=(test.expected, ""))
    if source == "text":
        return Outcome(True, f"{test.expected} set from the body", sets=(test.expected, response.body.decode("utf-8", "replace")))
    if source.lower().startswith("header."):
        value = response.headers.get(source[7:].lower())
        if value is None:
            return Outcome(False, f"{source}: no such header, {test.expected} not set")
        return Outcome(True, f"{test.expected} set from {source}", sets=(test.expected, value))
    if source.startswith("json") or source.startswith("$"):
        document = response.json()
        value = _MISSING if document is _MISSING else query(document, source)
        if value is _MISSING or value is None:
            return Outcome(False, f"{source}: undefined, {test.expected} not set")
        text = value if isinstance(value, str) else json.dumps(value)
        return Outcome(True, f"{test.expected} set from {source}", sets=(test.expected, text))
    return Outcome(True, f"{test.expected} set", sets=(test.expected, source))  # a literal value


_EVALUATORS = {"res-code": _res_code, "res-time": _res_time, "res-body": _res_body, "header": _header,
               "json-query": _json_query, "set-env-var": _set_env_var}  # fmt: skip
_COMPARISONS = {"equal", "notequal", "<", "<=", ">", ">="}
_TEXT_OPS = {"contains", "notcontains", "regex", "startswith", "endswith"}
_OPS_BY_KIND = {
    "res-code": _COMPARISONS | {"oneof"},
    "res-time": _COMPARISONS,
    "res-body": _COMPARISONS | _TEXT_OPS | {"isjson", "count"},
    "header": _COMPARISONS | _TEXT_OPS,
    "json-query": _COMPARISONS | _TEXT_OPS | {"istype", "count"},
}


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compare(actual: Any, op: str, expected: str) -> bool:
    """Thunder's comparison: numbers as numbers, ``null``/``true``/``false`` as JSON, everything else as text."""
    if op == "istype":
        return _type_name(actual) == expected.strip().lower()
    if op == "count":
        return isinstance(actual, (list, dict, str)) and len(actual) == int(expected)
    if op in ("equal", "notequal"):
        same = _equal(actual, expected)
        # A missing value equals nothing but `undefined`; `notequal null` on a missing value fails (the field the
        # test wants to be present is absent), as the team's collections mean it.
        if actual is _MISSING:
            return op == "equal" and expected == "undefined"
        return same if op == "equal" else not same
    if actual is _MISSING:
        return False
    if op in ("<", "<=", ">", ">="):
        left, right = float(actual), float(expected)
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
    if isinstance(actual, list) and op in ("contains", "notcontains"):
        found = any(_equal(item, expected) for item in actual)
        return found if op == "contains" else not found
    text = actual if isinstance(actual, str) else json.dumps(actual)
    if op == "contains":
        return expected in text
    if op == "notcontains":
        return expected not in text
    if op == "startswith":
        return text.startswith(expected)
    if op == "endswith":
        return text.endswith(expected)
    if op == "regex":
        return re.search(expected, text) is not None
    raise ValueError(f"operator {op!r}")


def _equal(actual: Any, expected: str) -> bool:
    if actual is None:
        return expected == "null"
    if isinstance(actual, bool):
        return expected.lower() == ("true" if actual else "false")
    if isinstance(actual, (int, float)):
        try:
            return float(expected) == float(actual)
        except ValueError:
            return False
    if isinstance(actual, str):
        return actual == expected
    try:
        return actual == json.loads(expected)
    except ValueError:
        return False


def _type_name(value: Any) -> str:
    if value is _MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


_STEP = re.compile(r"\.([^.\[\]]+)|\[(-?\d+)\]|\[['\"]([^'\"]+)['\"]\]")


def query(document: Any, path: str) -> Any:
    """A Thunder query (``json.items[0].id``, negative indexes from the end) or a JSONPath (``$.items[0].id``,
    ``$``) on a parsed document; ``_MISSING`` when nothing is there."""
    path = path.strip()
    if path.startswith("json"):
        rest = path[4:]
    elif path.startswith("$"):
        rest = path[1:]
    else:
        rest = "." + path
    steps, position = [], 0
    while position < len(rest):  # read the whole query first: one Thunder cannot follow is unsupported, not absent
        match = _STEP.match(rest, position)
        if match is None:
            raise UnsupportedQuery(f"cannot read the query {path!r} at {rest[position:]!r}")
        position = match.end()
        steps.append(match.groups())
    value = document
    for key, index, quoted in steps:
        if index is not None:
            if not isinstance(value, list) or not -len(value) <= int(index) < len(value):
                return _MISSING
            value = value[int(index)]
        else:
            name = key if key is not None else quoted
            if isinstance(value, list) and name == "length":
                value = len(value)
            elif not isinstance(value, dict) or name not in value:
                return _MISSING
            else:
                value = value[name]
    return value
