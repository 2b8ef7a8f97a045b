"""The PostgREST subset ProspectPro's clients use: GET with select, filters, order, limit, offset, the
single-object Accept header and `Prefer: count=exact`, under row-level security by the JWT's user.

Writes through REST are not simulated (ProspectPro writes through its edge functions), except the one the SPA makes:
a new user's `user_profiles` insert (or upsert). Other writes get PostgREST's "Unsupported HTTP method" answer.
"""

from __future__ import annotations

from simulator.config import SimulatorConfig
from simulator.gotrue import GoTrue, TokenError, TOKEN_EXPIRED
from simulator.httpserver import Request, Response
from simulator.jsonbody import compact_json, json_response, parse_json_object, pg_timestamp
from simulator.store import OWNER_COLUMN, TABLES, Store

SINGLE_OBJECT = "application/vnd.pgrst.object+json"
JSON_TYPE = "application/json; charset=utf-8"
RESERVED_PARAMS = {"select", "order", "limit", "offset", "apikey", "columns", "on_conflict"}
OPERATORS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "like": "LIKE", "ilike": "LIKE"}
SERVICE_ROLE = object()  # sees every row


class RestError(Exception):
    def __init__(self, status: int, code: str, message: str, details: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.response = json_response(status, {"code": code, "details": details, "hint": hint, "message": message},
                                      content_type=JSON_TYPE)


def _convert(table: str, column: str, kind: str, text: str):
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise RestError(400, "22P02", f'invalid input syntax for type integer: "{text}"') from None
    if kind == "num":
        try:
            return float(text)
        except ValueError:
            raise RestError(400, "22P02", f'invalid input syntax for type numeric: "{text}"') from None
    if kind == "bool":
        if text not in ("true", "false"):
            raise RestError(400, "22P02", f'invalid input syntax for type boolean: "{text}"')
        return 1 if text == "true" else 0
    return text


class PostgREST:
    def __init__(self, config: SimulatorConfig, store: Store, gotrue: GoTrue):
        self._config = config
        self._store = store
        self._gotrue = gotrue

    def _viewer(self, request: Request):
        """The user id whose rows are visible, SERVICE_ROLE, or None (anon: RLS shows no user rows)."""
        token = GoTrue.bearer(request)
        if token is None or token == self._config.publishable_key:
            return None
        if token == self._config.service_role_key:
            return SERVICE_ROLE
        try:
            claims, _ = self._gotrue.verify(token, check_session=False)
        except TokenError as error:
            if error.error is TOKEN_EXPIRED:
                raise RestError(401, "PGRST303", "JWT expired") from None
            raise RestError(401, "PGRST301", "No suitable key or wrong key type") from None
        return claims["sub"]

    def handle(self, request: Request, table: str) -> Response:
        problem = self._gotrue.api_key_problem(request)
        if problem:
            return problem
        try:
            if table not in TABLES:
                raise RestError(404, "PGRST205", f"Could not find the table 'public.{table}' in the schema cache")
            if request.method == "POST" and table == "user_profiles":
                return self._insert_profile(request, self._viewer(request))
            if request.method not in ("GET", "HEAD"):
                raise RestError(405, "PGRST117", f"Unsupported HTTP method: {request.method}")
            viewer = self._viewer(request)
            return self._read(request, table, viewer)
        except RestError as error:
            return error.response

    def _insert_profile(self, request: Request, viewer) -> Response:
        """The one REST write the SPA makes: a new user's `user_profiles` row on first sign-in (reference §2.2, §4).
        Policy: a user inserts only their own row (`auth.uid() = id`); a second insert of one id is 409, unless
        `Prefer: resolution=merge-duplicates` (supabase-js `.upsert()`) makes it an update."""
        try:
            body = parse_json_object(request.body)
        except ValueError as error:
            raise RestError(400, "PGRST102", f"Empty or invalid json: {error}") from None
        rows = body if isinstance(body, list) else [body]
        kinds = TABLES["user_profiles"]
        prefer = request.headers.get("prefer", "")
        written = []
        for row in rows:
            if not isinstance(row, dict) or "id" not in row:
                raise RestError(400, "23502", 'null value in column "id" of relation "user_profiles" violates not-null constraint')
            unknown = sorted(set(row) - set(kinds))
            if unknown:
                raise RestError(400, "PGRST204", f"Could not find the '{unknown[0]}' column of 'user_profiles' in the schema cache")
            if viewer is not SERVICE_ROLE and row["id"] != viewer:
                raise RestError(403 if viewer else 401, "42501",
                                'new row violates row-level security policy for table "user_profiles"')
            now = pg_timestamp()
            if self._store.get("user_profiles", row["id"]) is not None:
                if "resolution=merge-duplicates" not in prefer:
                    raise RestError(409, "23505", 'duplicate key value violates unique constraint "user_profiles_pkey"',
                                    details=f"Key (id)=({row['id']}) already exists.")
                self._store.update("user_profiles", row["id"], {**{k: v for k, v in row.items() if k != "id"},
                                                                "updated_at": now})
            else:
                self._store.insert("user_profiles", {"subscription_tier": "free", "total_spent": 0,
                                                     "monthly_budget": 100.0, "created_at": now, "updated_at": now,
                                                     **row})  # fmt: skip
            written.append(self._store.get("user_profiles", row["id"]))
        if "return=representation" in prefer:
            return json_response(201, written, content_type=JSON_TYPE)
        return Response(201, b"", content_type=None)

    def rpc(self, request: Request, function: str) -> Response:
        """No RPC the clients call exists in ProspectPro's schema (reference §10): PostgREST answers 404."""
        problem = self._gotrue.api_key_problem(request)
        if problem:
            return problem
        try:
            body = parse_json_object(request.body) if request.body.strip() else {}
            names = ", ".join(sorted(body)) if isinstance(body, dict) else ""
        except ValueError:
            names = ""
        return json_response(404, {
            "code": "PGRST202",
            "details": f"Searched for the function public.{function} with parameters {names} or with a single "
                       "unnamed json/jsonb parameter, but no matches were found in the schema cache.",
            "hint": None,
            "message": f"Could not find the function public.{function}({names}) in the schema cache",
        }, content_type=JSON_TYPE)

    def _read(self, request: Request, table: str, viewer) -> Response:
        kinds = TABLES[table]
        select = request.param("select") or "*"
        columns = self._columns(table, select)
        where, params = [], []
        if viewer is not SERVICE_ROLE:
            if viewer is None:
                where.append("0")  # anon: no row has a matching session_id claim
            else:
                where.append(f"{OWNER_COLUMN[table]} = ?")
                params.append(viewer)
        order_sql = ""
        limit = offset = None
        for key, value in request.params:
            if key in RESERVED_PARAMS:
                if key == "order":
                    order_sql = self._order(table, value)
                elif key == "limit":
                    limit = self._non_negative("limit", value)
                elif key == "offset":
                    offset = self._non_negative("offset", value)
                continue
            if key not in kinds:
                raise RestError(400, "42703", f"column {table}.{key} does not exist")
            where.append(self._filter(table, key, kinds[key], value, params))
        sql_where = f" WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT {', '.join(columns)} FROM {table}{sql_where}{order_sql}"
        if limit is not None or offset is not None:
            sql += f" LIMIT {-1 if limit is None else limit} OFFSET {offset or 0}"
        rows = self._store.query(table, columns, sql, params)

        prefer = request.headers.get("prefer", "")
        total = "*"
        if "count=exact" in prefer:
            total = str(self._store.scalar(f"SELECT COUNT(*) FROM {table}{sql_where}", params))
        first = offset or 0
        content_range = f"{first}-{first + len(rows) - 1}/{total}" if rows else f"*/{total}"
        if SINGLE_OBJECT in request.headers.get("accept", ""):
            if len(rows) != 1:
                raise RestError(406, "PGRST116", "Cannot coerce the result to a single JSON object",
                                details=f"The result contains {len(rows)} rows")
            body = compact_json(rows[0]).encode()
            content_type = f"{SINGLE_OBJECT}; charset=utf-8"
        else:
            body = compact_json(rows).encode()
            content_type = JSON_TYPE
        if request.method == "HEAD":
            body = b""
        # With an exact count, PostgREST marks a page that is not the whole result as 206 Partial Content.
        status = 206 if total != "*" and len(rows) < int(total) else 200
        return Response(status, body, content_type=content_type,
                        headers=[("Content-Range", content_range)])

    @staticmethod
    def _columns(table: str, select: str) -> list[str]:
        columns: list[str] = []
        for item in select.split(","):
            item = item.strip()
            if item == "*":
                columns.extend(TABLES[table])
            elif item in TABLES[table]:
                columns.append(item)
            elif "(" in item or ":" in item:
                raise RestError(400, "PGRST100", f'"failed to parse select parameter ({select})"',
                                details="embedded resources, aliases and casts are not simulated")
            else:
                raise RestError(400, "42703", f"column {table}.{item} does not exist")
        return columns

    @staticmethod
    def _order(table: str, value: str) -> str:
        terms = []
        for term in value.split(","):
            column, *modifiers = term.strip().split(".")
            if column not in TABLES[table]:
                raise RestError(400, "42703", f"column {table}.{column} does not exist")
            direction = "DESC" if "desc" in modifiers else "ASC"
            nulls = "NULLS FIRST" if ("nullsfirst" in modifiers or (direction == "DESC" and "nullslast" not in modifiers)) else "NULLS LAST"
            unknown = set(modifiers) - {"asc", "desc", "nullsfirst", "nullslast"}
            if unknown:
                raise RestError(400, "PGRST100", f'"failed to parse order ({value})"')
            terms.append(f"{column} {direction} {nulls}")
        return " ORDER BY " + ", ".join(terms)

    @staticmethod
    def _non_negative(name: str, value: str) -> int:
        if not value.isdigit():
            raise RestError(400, "PGRST100", f'"failed to parse {name} ({value})"')
        return int(value)

    @staticmethod
    def _filter(table: str, column: str, kind: str, expression: str, params: list) -> str:
        operator, dot, operand = expression.partition(".")
        if not dot:
            raise RestError(400, "PGRST100", f'"failed to parse filter ({expression})"')
        if operator in OPERATORS:
            if operator in ("like", "ilike"):
                params.append(operand.replace("*", "%"))
                return f"{column} LIKE ?" + (" COLLATE NOCASE" if operator == "ilike" else "")
            params.append(_convert(table, column, kind, operand))
            return f"{column} {OPERATORS[operator]} ?"
        if operator == "is":
            literals = {"null": "IS NULL", "true": "= 1", "false": "= 0"}
            if operand not in literals:
                raise RestError(400, "PGRST100", f'"failed to parse filter ({expression})"')
            return f"{column} {literals[operand]}"
        if operator == "in" and operand.startswith("(") and operand.endswith(")"):
            items = [item.strip().strip('"') for item in operand[1:-1].split(",") if item.strip()]
            if not items:
                return "0"
            params.extend(_convert(table, column, kind, item) for item in items)
            return f"{column} IN ({', '.join('?' * len(items))})"
        raise RestError(400, "PGRST100", f'"failed to parse filter ({expression})"')
