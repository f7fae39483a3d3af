"""A test double (stand-in) of the Tailscale API v2, served over real HTTP on loopback.

The real API cannot be reached from the build machines, so the reconciler's and the analytics
service's tests talk to this instead, through the very same :class:`TailscaleClient` and
httpx transport they use in production. It follows Tailscale's API v2 reference in paths,
methods, bodies, status codes and headers:

- auth: ``Authorization: Bearer`` or HTTP Basic (token as user, empty password) with an API
  token; ``POST /api/v2/oauth/token`` (client credentials, form-encoded) mints bearer tokens
  for OAuth clients that live exactly the ``expires_in`` it reports
  (:attr:`TailscaleAPIDouble.oauth_token_lifetime`, on the double's clock, see
  :meth:`~TailscaleAPIDouble.advance`), with the requested ``scope`` narrowed to what the
  client itself holds; scopes are enforced per route;
- policy: ``GET /tailnet/{t}/acl`` answers HuJSON (or JSON for ``Accept: application/json``)
  with ``ETag: "<sha256 hex>"``; ``POST`` replaces it, honouring ``If-Match`` (``412
  {"message": "precondition failed, invalid old hash"}``; ``"ts-default"`` matches only the
  untouched default) and refusing a policy whose tests fail (400 ``test(s) failed``);
  ``POST /acl/validate`` never modifies and always answers 200 when well-formed, with
  ``{"message", "data"}`` on failure; a JSON array body runs those tests on the current policy.
  Both read a body as HuJSON only with ``Content-Type: application/hujson``; anything else
  must be JSON (400 otherwise). A test without ``src`` is malformed: 400;
- keys: ``POST /tailnet/{t}/keys`` returns ``key`` once (never again on GET), tags not
  declared in ``tagOwners`` (or, for OAuth clients, not owned by the client) are a 400;
  ``GET /keys`` lists the calling user's keys for an API token and the tailnet-owned keys for
  an OAuth token, auth keys only unless ``?all=true``; a revoked, used or expired key reads
  ``invalid: true``;
- devices: no ``online`` field (``connectedToControl``/``lastSeen`` only), exact-match query
  filters, ``fields=all`` extras, tags validated against ``tagOwners``;
- DNS: nameservers, preferences (MagicDNS needs a nameserver), search paths;
- faults: :meth:`TailscaleAPIDouble.inject_fault` answers the next matching requests with,
  e.g., ``429`` + ``Retry-After``, or a 5xx.

Deviations, stated rather than hidden: the ETag is the sha256 of the policy text with
indentation and blank lines ignored (the real one hashes ``hujson.Format`` output, which this
approximates: comments count, layout does not; clients must treat ETags as opaque anyway);
the wording of per-test failure strings, of auth, scope and body-format errors is the
double's own (unverified), as is ``userId: ""`` on tailnet-owned keys and the answer to a
scope request the client holds none of (400 ``invalid_scope``, as OAuth 2.0 §5.2 names it).
Test helpers that the real API has no endpoint for (a console edit, a node logging in with a
key, time passing) are plain methods.

Usage::

    with serve_tailscale_double() as ts:
        client = TailscaleClient(ApiToken(token=ts.api_token), base_url=ts.base_url)
        ts.api.add_device("forgejo", tags=["tag:forgejo"])
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from factory_common.tailscale import hujson

from factory_common_testing._policy_checks import policy_problems, run_tests

__all__ = [
    "DEFAULT_POLICY",
    "Fault",
    "RecordedRequest",
    "RunningDouble",
    "TailscaleAPIDouble",
    "serve_tailscale_double",
]

#: The policy a fresh tailnet starts with (its ETag matches ``If-Match: "ts-default"``).
DEFAULT_POLICY = """// Example/default ACLs for unrestricted connections.
{
  // Define the tags which can be applied to devices and by which users.
  // "tagOwners": {
  //   "tag:example": ["autogroup:admin"],
  // },
  "acls": [
    // Allow all connections.
    {"action": "accept", "src": ["*"], "dst": ["*:*"]},
  ],
}
"""

SCOPES_FOR = {
    "acl": "policy_file",
    "keys": "auth_keys",
    "devices": "devices:core",
    "device": "devices:core",
    "dns": "dns",
}


class _Reply(Exception):
    """An HTTP answer raised from deep inside a handler (errors, mostly)."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _error(status: int, message: str, data: Any = None) -> _Reply:
    body: dict[str, Any] = {"message": message}
    if data is not None:
        body["data"] = data
    return _Reply(status, body)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


@dataclass
class Fault:
    """An injected failure: answer ``status`` to the next ``times`` matching requests."""

    status: int
    times: int = 1
    retry_after: str | None = None
    method: str | None = None
    path_contains: str | None = None
    message: str = "injected by the test double"


@dataclass
class RecordedRequest:
    """One request as the double saw it (credentials are never recorded)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0  # the status the double answered with


@dataclass
class _Token:
    scopes: frozenset[str]
    expires: datetime
    owned_tags: frozenset[str] | None  # None = a user's API token (any declared tag)
    kind: str  # "api" | "oauth"
    user_id: str = ""  # the owner of an API token; "" for OAuth (acts as the tailnet)


@dataclass
class _OAuthClientRecord:
    secret: str
    scopes: frozenset[str]
    tags: frozenset[str] | None


@dataclass
class TailscaleAPIDouble:
    """The tailnet's state and the API's rules; thread-safe. Tests poke it directly."""

    tailnet_name: str = "example.com"
    magic_dns_suffix: str = "tail1234.ts.net"
    policy_text: str = DEFAULT_POLICY
    default_policy_untouched: bool = True
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    nameservers: list[str] = field(default_factory=list)
    magic_dns: bool = False
    search_paths: list[str] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    oauth_token_lifetime: int = 3600  # seconds, as `expires_in`
    _tokens: dict[str, _Token] = field(default_factory=dict)
    _oauth_clients: dict[str, _OAuthClientRecord] = field(default_factory=dict)
    _key_secrets: dict[str, str] = field(default_factory=dict)  # sha256(secret) -> key id
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _counter: int = 0

    # -- test helpers (no API equivalent) ---------------------------------------------------
    def add_api_token(self, token: str | None = None, *, user_id: str = "u0001") -> str:
        """Register an API access token acting as admin user ``user_id``; returns it."""
        token = token or f"tskey-api-double{secrets.token_hex(12)}"
        self._tokens[token] = _Token(
            frozenset({"all"}), self.now + timedelta(days=90), None, "api", user_id
        )
        return token

    def advance(self, seconds: float) -> None:
        """Let time pass on the double's clock (tokens and keys expire by it)."""
        with self._lock:
            self.now += timedelta(seconds=seconds)

    def add_key(
        self, key_type: str = "client", *, user_id: str = "", tags: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """Put a key the API cannot mint here (e.g. an OAuth ``client`` key) in the list;
        ``user_id`` "" = owned by the tailnet."""
        with self._lock:
            self._counter += 1
            key_id = f"k{self._counter:04d}CNTRL"
            self.keys[key_id] = {
                "id": key_id,
                "keyType": key_type,
                "created": _iso(self.now),
                "expires": None,
                "invalid": False,
                "capabilities": {},
                "description": f"{key_type} key",
                "scopes": [],
                "tags": list(tags),
                "userId": user_id,
            }
            return self._public_key(self.keys[key_id])

    def add_oauth_client(
        self,
        client_id: str = "double-client",
        *,
        scopes: tuple[str, ...] = ("all",),
        tags: tuple[str, ...] | None = None,
    ) -> tuple[str, str]:
        """Register an OAuth client owning ``tags``; returns (client id, client secret)."""
        secret = f"tskey-client-{client_id}-{secrets.token_hex(12)}"
        self._oauth_clients[client_id] = _OAuthClientRecord(
            secret, frozenset(scopes), frozenset(tags) if tags is not None else None
        )
        return client_id, secret

    def expire_tokens(self) -> None:
        """Make every issued OAuth access token expire (as time passing would)."""
        with self._lock:
            for token in self._tokens.values():
                if token.kind == "oauth":
                    token.expires = self.now - timedelta(seconds=1)

    def console_edit_policy(self, text: str) -> str:
        """Simulate a person editing the policy in the admin console; returns the new ETag."""
        with self._lock:
            hujson.parse(text)
            self.policy_text = text
            self.default_policy_untouched = False
            return self.etag

    def add_device(
        self,
        hostname: str,
        *,
        tags: list[str] | None = None,
        user: str = "admin@example.com",
        connected: bool = True,
        last_seen: datetime | None = None,
        name: str | None = None,
        os: str = "linux",
        external: bool = False,
    ) -> dict[str, Any]:
        """Put a device on the tailnet (as if a node had joined); returns its API record."""
        with self._lock:
            self._counter += 1
            n = self._counter
            node_id = f"n{n:04d}CNTRL"
            record = {
                "id": str(100000 + n),
                "nodeId": node_id,
                "name": name or f"{hostname}.{self.magic_dns_suffix}",
                "hostname": hostname,
                "addresses": [f"100.64.0.{n}", f"fd7a:115c:a1e0::{n:x}"],
                "user": "tagged-devices" if tags else user,
                "tags": sorted(tags or []),
                "authorized": True,
                "os": os,
                "clientVersion": "1.90.8",
                "updateAvailable": False,
                "created": _iso(self.now),
                "connectedToControl": connected,
                "expires": None if tags else _iso(self.now + timedelta(days=180)),
                "keyExpiryDisabled": bool(tags),
                "isExternal": external,
                "isEphemeral": False,
                "blocksIncomingConnections": False,
                "machineKey": f"mkey:{secrets.token_hex(32)}",
                "nodeKey": f"nodekey:{secrets.token_hex(32)}",
                "tailnetLockKey": f"nlpub:{secrets.token_hex(32)}",
                "tailnetLockError": "",
                "multipleConnections": False,
            }
            if not connected:
                record["lastSeen"] = _iso(last_seen or self.now)
            self.devices[node_id] = record
            return record

    def register_node(self, auth_key: str, hostname: str) -> dict[str, Any]:
        """Simulate ``tailscale up --authkey``: consume the key and join as a tagged node.

        Fails like control does when the key is unknown, revoked, expired or already used.
        A hostname already taken gets the ``-1``, ``-2`` suffix (the duplicate-node symptom)."""
        with self._lock:
            key_id = self._key_secrets.get(hashlib.sha256(auth_key.encode()).hexdigest())
            key = self.keys.get(key_id or "")
            if key is None or self._key_invalid(key):
                raise ValueError("invalid key: unable to validate API key")
            create = key["capabilities"]["devices"]["create"]
            if not create.get("reusable"):
                key["invalid"] = True
                key["_used"] = True
            taken = {d["hostname"] for d in self.devices.values()}
            name, suffix = hostname, 0
            while name in taken:
                suffix += 1
                name = f"{hostname}-{suffix}"
            record = self.add_device(
                hostname,
                tags=list(create.get("tags") or []),
                name=f"{name}.{self.magic_dns_suffix}",
            )
            record["authorized"] = bool(create.get("preauthorized"))
            record["isEphemeral"] = bool(create.get("ephemeral"))
            return record

    def set_offline(self, node_id: str, last_seen: datetime) -> None:
        """Disconnect a device from control, last seen at ``last_seen``."""
        with self._lock:
            record = self.devices[node_id]
            record["connectedToControl"] = False
            record["lastSeen"] = _iso(last_seen)

    def inject_fault(self, status: int, **kwargs: Any) -> Fault:
        """Answer the next matching request(s) with ``status`` (e.g. 429 + Retry-After)."""
        fault = Fault(status=status, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    @property
    def etag(self) -> str:
        """The current policy's ETag, quoted as in the header."""
        return f'"{hashlib.sha256(_formatted(self.policy_text).encode()).hexdigest()}"'

    def keys_created(self) -> int:
        return len(self.keys)

    def calls(self, method: str, path_contains: str) -> list[RecordedRequest]:
        """Recorded requests with this method whose path contains the text."""
        return [r for r in self.requests if r.method == method and path_contains in r.path]

    @property
    def policy(self) -> dict[str, Any]:
        value: dict[str, Any] = hujson.parse(self.policy_text).value
        return value

    # -- request handling -------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Reply:
        parts = urlsplit(target)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        lowered = {k.lower(): v for k, v in headers.items()}
        safe_headers = {
            k: v for k, v in lowered.items() if k in ("accept", "content-type", "if-match")
        }
        recorded_body = b"" if path.endswith("/oauth/token") else body
        record = RecordedRequest(method, path, query, safe_headers, recorded_body)
        with self._lock:
            self.requests.append(record)
            fault = self._take_fault(method, path)
        if fault is not None:
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            reply = _Reply(fault.status, {"message": fault.message}, extra)
        else:
            try:
                reply = self._route(method, path, query, lowered, body)
            except _Reply as raised:
                reply = raised
        record.status = reply.status
        return reply

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method and fault.method != method:
                continue
            if fault.path_contains and fault.path_contains not in path:
                continue
            fault.times -= 1
            if fault.times <= 0:
                self.faults.remove(fault)
            return fault
        return None

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> _Reply:
        if not path.startswith("/api/v2/"):
            raise _error(404, "not found")
        segments = path[len("/api/v2/") :].strip("/").split("/")
        if segments == ["oauth", "token"] and method == "POST":
            return self._oauth_token(headers, body)
        token = self._authenticate(headers)
        if segments[0] == "tailnet" and len(segments) >= 3:
            if segments[1] not in ("-", self.tailnet_name):
                raise _error(404, "tailnet not found")
            resource, rest = segments[2], segments[3:]
            writing = method != "GET" and rest != ["validate"]  # validate needs only :read
            self._authorize(token, resource, writing)
            with self._lock:
                return self._tailnet_route(method, resource, rest, query, headers, body, token)
        if segments[0] == "device" and len(segments) >= 2:
            self._authorize(token, "device", method != "GET")
            with self._lock:
                return self._device_route(method, segments[1], segments[2:], query, body)
        raise _error(404, "not found")

    def _tailnet_route(
        self,
        method: str,
        resource: str,
        rest: list[str],
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        token: _Token,
    ) -> _Reply:
        if resource == "acl":
            if not rest:
                if method == "GET":
                    return self._get_policy(query, headers)
                if method == "POST":
                    return self._set_policy(headers, body)
            if rest == ["validate"] and method == "POST":
                return self._validate(headers, body)
        if resource == "devices" and not rest and method == "GET":
            return self._list_devices(query)
        if resource == "keys":
            if not rest and method == "POST":
                return self._create_key(body, token)
            if not rest and method == "GET":
                return self._list_keys(query, token)
            if len(rest) == 1 and method in ("GET", "DELETE"):
                return self._one_key(method, rest[0])
        if resource == "dns" and len(rest) == 1:
            return self._dns(method, rest[0], body)
        raise _error(404, f"no route for {method} tailnet/{resource}/{'/'.join(rest)}")

    # -- auth --------------------------------------------------------------------------------
    def _authenticate(self, headers: dict[str, str]) -> _Token:
        value = headers.get("authorization", "")
        scheme, _, credential = value.partition(" ")
        if scheme.lower() == "basic":
            try:
                credential = base64.b64decode(credential).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                credential = ""
        elif scheme.lower() != "bearer":
            raise _error(401, "API token invalid")
        token = self._tokens.get(credential)
        if token is None or token.expires <= self.now:
            raise _error(401, "API token invalid")
        return token

    @staticmethod
    def _authorize(token: _Token, resource: str, writing: bool) -> None:
        """Enforce OAuth scopes: ``family`` allows all, ``family:read`` only reading."""
        family = SCOPES_FOR.get(resource)
        if family is None or "all" in token.scopes:
            return
        if family in token.scopes:
            return
        if not writing and ({f"{family}:read", "all:read"} & token.scopes):
            return
        raise _error(403, f"calling actor does not have enough permissions: needs {family}")

    def _oauth_token(self, headers: dict[str, str], body: bytes) -> _Reply:
        if "application/x-www-form-urlencoded" not in headers.get("content-type", ""):
            raise _error(400, "expected a form-encoded body")
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        client = self._oauth_clients.get(form.get("client_id", ""))
        if form.get("grant_type") != "client_credentials":
            raise _error(400, "unsupported grant_type")
        if client is None or not secrets.compare_digest(
            client.secret, form.get("client_secret", "")
        ):
            raise _error(401, "invalid client credentials")
        scopes = client.scopes
        if form.get("scope"):
            scopes = _granted(frozenset(form["scope"].split()), client.scopes)
            if not scopes:
                raise _error(400, "invalid_scope: the client holds none of the requested scopes")
        access = f"double-oauth-{secrets.token_hex(16)}"
        with self._lock:
            self._tokens[access] = _Token(
                scopes,
                self.now + timedelta(seconds=self.oauth_token_lifetime),
                client.tags,
                "oauth",
            )
        return _Reply(
            200,
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": self.oauth_token_lifetime,
            },
        )

    # -- policy -----------------------------------------------------------------------------
    def _get_policy(self, query: dict[str, list[str]], headers: dict[str, str]) -> _Reply:
        etag = {"ETag": self.etag}
        if query.get("details") == ["1"]:
            encoded = base64.b64encode(self.policy_text.encode()).decode()
            return _Reply(200, {"acl": encoded, "warnings": [], "errors": []}, etag)
        if "application/json" in headers.get("accept", ""):
            return _Reply(200, self.policy, etag)
        return _Reply(200, self.policy_text, {**etag, "Content-Type": "application/hujson"})

    @staticmethod
    def _parse_body(headers: dict[str, str], body: bytes) -> Any:
        """HuJSON only when the caller says so (``Content-Type: application/hujson``);
        any other body must be plain JSON, as the API reads it."""
        text = body.decode("utf-8", errors="replace")
        if "application/hujson" in headers.get("content-type", ""):
            try:
                return hujson.parse(text).value
            except hujson.HuJSONError as exc:
                raise _error(400, f"parsing policy: {exc}") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise _error(
                400,
                f"invalid JSON body: {exc} (HuJSON needs Content-Type: application/hujson)",
            ) from None

    def _parse_policy(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        value = self._parse_body(headers, body)
        if not isinstance(value, dict):
            raise _error(400, "policy must be a JSON object")
        return value

    @staticmethod
    def _require_src(tests: Any) -> list[dict[str, Any]]:
        """A test object needs ``src`` (the facts: "src (required)"); without it: 400."""
        if not isinstance(tests, list):
            raise _error(400, "tests must be a JSON array of test objects")
        for index, test in enumerate(tests):
            if not isinstance(test, dict) or not str(test.get("src") or "").strip():
                raise _error(400, f"test {index}: src is required")
        return tests

    def _check_policy(self, value: dict[str, Any]) -> tuple[str, list[dict[str, Any]]] | None:
        self._require_src(value.get("tests") or [])
        problems = policy_problems(value)
        if problems:
            return "; ".join(problems), []
        failures = run_tests(value)
        if failures:
            return "test(s) failed", failures
        return None

    def _set_policy(self, headers: dict[str, str], body: bytes) -> _Reply:
        if_match = headers.get("if-match")
        if if_match is not None:
            matches = if_match == self.etag or (
                if_match == '"ts-default"' and self.default_policy_untouched
            )
            if not matches:
                raise _error(412, "precondition failed, invalid old hash")
        value = self._parse_policy(headers, body)
        problem = self._check_policy(value)
        if problem is not None:
            raise _error(400, problem[0], problem[1] or None)
        self.policy_text = body.decode("utf-8", errors="replace")
        self.default_policy_untouched = False
        return self._get_policy({}, headers)

    def _validate(self, headers: dict[str, str], body: bytes) -> _Reply:
        value = self._parse_body(headers, body)
        if isinstance(value, list):
            failures = run_tests(self.policy, self._require_src(value))
            if failures:
                return _Reply(200, {"message": "test(s) failed", "data": failures})
            return _Reply(200, {})
        if not isinstance(value, dict):
            raise _error(400, "policy must be a JSON object")
        problem = self._check_policy(value)
        if problem is not None:
            message, data = problem
            return _Reply(
                200, {"message": message, "data": data or [{"user": "", "errors": [message]}]}
            )
        return _Reply(200, {})

    # -- devices ----------------------------------------------------------------------------
    def _device_view(self, record: dict[str, Any], fields: str) -> dict[str, Any]:
        view = dict(record)
        if fields == "all":
            view.update(
                {
                    "enabledRoutes": [],
                    "advertisedRoutes": [],
                    "clientConnectivity": {
                        "endpoints": [],
                        "mappingVariesByDestIP": False,
                        "latency": {},
                        "clientSupports": {
                            "hairPinning": False,
                            "ipv6": False,
                            "pcp": False,
                            "pmp": False,
                            "udp": True,
                            "upnp": False,
                        },
                    },
                    "distro": {"name": "debian", "version": "12"},
                    "sshEnabled": False,
                }
            )
        return view

    def _list_devices(self, query: dict[str, list[str]]) -> _Reply:
        fields = query.get("fields", ["default"])[0]
        if fields == "all" and any(d["isExternal"] for d in self.devices.values()):
            # since Oct 2026 (tailscale/tailscale#21721): shared-in devices break fields=all
            raise _error(404, "not found")
        filters = {k: v[0] for k, v in query.items() if k != "fields"}
        out = []
        for record in self.devices.values():
            if all(_filter_matches(record.get(k), v) for k, v in filters.items()):
                out.append(self._device_view(record, fields))
        return _Reply(200, {"devices": out})

    def _find_device(self, device_id: str) -> dict[str, Any]:
        for record in self.devices.values():
            if device_id in (record["nodeId"], record["id"]):
                return record
        raise _error(404, "device not found")

    def _device_route(
        self, method: str, device_id: str, rest: list[str], query: dict[str, list[str]], body: bytes
    ) -> _Reply:
        record = self._find_device(device_id)
        if not rest and method == "GET":
            return _Reply(200, self._device_view(record, query.get("fields", ["default"])[0]))
        if not rest and method == "DELETE":
            if record["isExternal"]:
                raise _error(501, "cannot delete a shared-in device")
            del self.devices[record["nodeId"]]
            return _Reply(200, None)
        payload = _json_body(body)
        if rest == ["tags"] and method == "POST":
            tags = payload.get("tags")
            if not isinstance(tags, list):
                raise _error(400, "tags must be a list")
            declared = set(self.policy.get("tagOwners") or {})
            bad = sorted(t for t in tags if t not in declared or not str(t).startswith("tag:"))
            if bad:
                raise _error(400, f"requested tags [{' '.join(bad)}] are invalid or not permitted")
            record["tags"] = sorted(set(tags))
            if tags:
                record["user"] = "tagged-devices"
            return _Reply(200, {})
        if rest == ["authorized"] and method == "POST":
            record["authorized"] = bool(payload.get("authorized"))
            return _Reply(200, {})
        if rest == ["name"] and method == "POST":
            record["name"] = f"{payload.get('name')}.{self.magic_dns_suffix}"
            return _Reply(200, {})
        if rest == ["key"] and method == "POST":
            record["keyExpiryDisabled"] = bool(payload.get("keyExpiryDisabled"))
            return _Reply(200, {})
        if rest == ["expire"] and method == "POST":
            record["expires"] = _iso(self.now)
            return _Reply(200, {})
        raise _error(404, f"no route for {method} device/{device_id}/{'/'.join(rest)}")

    # -- keys -------------------------------------------------------------------------------
    def _create_key(self, body: bytes, token: _Token) -> _Reply:
        payload = _json_body(body)
        key_type = payload.get("keyType", "auth")
        capabilities = payload.get("capabilities")
        if key_type != "auth":
            raise _error(400, f"keyType {key_type!r} is not modelled by this test double")
        if not isinstance(capabilities, dict) or not isinstance(capabilities.get("devices"), dict):
            raise _error(400, "capabilities.devices is required")
        description = str(payload.get("description") or "")
        if len(description) > 50:
            raise _error(400, "description must be at most 50 characters")
        create = dict(capabilities["devices"].get("create") or {})
        tags = list(create.get("tags") or [])
        declared = set(self.policy.get("tagOwners") or {})
        if token.kind == "oauth" and not tags:
            raise _error(400, "keys created by an OAuth client must be tagged")
        owned = declared if token.owned_tags is None else declared & token.owned_tags
        bad = sorted(t for t in tags if t not in owned)
        if bad:
            raise _error(400, f"requested tags [{' '.join(bad)}] are invalid or not permitted")
        expiry = int(payload.get("expirySeconds") or 90 * 86400)
        self._counter += 1
        key_id = f"k{self._counter:04d}CNTRL"
        secret = f"tskey-auth-{key_id}-{secrets.token_hex(16)}"
        record = {
            "id": key_id,
            "keyType": key_type,
            "created": _iso(self.now),
            "expires": _iso(self.now + timedelta(seconds=expiry)),
            "invalid": False,
            "capabilities": {"devices": {"create": create}},
            "description": description,
            "scopes": [],
            "tags": tags,
            "userId": "" if token.kind == "oauth" else token.user_id,
        }
        self.keys[key_id] = record
        self._key_secrets[hashlib.sha256(secret.encode()).hexdigest()] = key_id
        return _Reply(200, {**self._public_key(record), "key": secret})

    def _key_invalid(self, record: dict[str, Any]) -> bool:
        """Revoked, used up, or past ``expires`` on the double's clock."""
        expires = record.get("expires")
        expired = expires is not None and expires <= _iso(self.now)
        return bool(record.get("invalid")) or expired

    def _public_key(self, record: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in record.items() if not k.startswith("_")}
        view["invalid"] = self._key_invalid(record)
        return view

    def _list_keys(self, query: dict[str, list[str]], token: _Token) -> _Reply:
        """An API token sees its user's keys, an OAuth token the tailnet-owned ones; only
        auth keys unless ``?all=true``."""
        owner = "" if token.kind == "oauth" else token.user_id
        every_type = query.get("all", [""])[0].lower() == "true"
        keys = [
            self._public_key(k)
            for k in self.keys.values()
            if k["userId"] == owner and (every_type or k["keyType"] == "auth")
        ]
        return _Reply(200, {"keys": keys})

    def _one_key(self, method: str, key_id: str) -> _Reply:
        record = self.keys.get(key_id)
        if record is None:
            raise _error(404, "key not found")
        if method == "DELETE":
            record["invalid"] = True
            record["revoked"] = _iso(self.now)
            return _Reply(200, None)
        return _Reply(200, self._public_key(record))

    # -- DNS --------------------------------------------------------------------------------
    def _dns(self, method: str, what: str, body: bytes) -> _Reply:
        if what == "nameservers":
            if method == "POST":
                servers = _json_body(body).get("dns")
                if not isinstance(servers, list):
                    raise _error(400, "dns must be a list of nameservers")
                self.nameservers = [str(s) for s in servers]
                if not self.nameservers:
                    self.magic_dns = False
            return _Reply(200, {"dns": self.nameservers, "magicDNS": self.magic_dns})
        if what == "preferences":
            if method == "POST":
                wanted = bool(_json_body(body).get("magicDNS"))
                if wanted and not self.nameservers:
                    raise _error(400, "need at least one nameserver to enable MagicDNS")
                self.magic_dns = wanted
            return _Reply(200, {"magicDNS": self.magic_dns})
        if what == "searchpaths":
            if method == "POST":
                paths = _json_body(body).get("searchPaths")
                if not isinstance(paths, list):
                    raise _error(400, "searchPaths must be a list")
                self.search_paths = [str(p) for p in paths]
            return _Reply(200, {"searchPaths": self.search_paths})
        raise _error(404, f"no route for dns/{what}")


def _covers(held: frozenset[str], scope: str) -> bool:
    """Does a set of scopes include ``scope``? ``all`` covers everything, ``all:read`` every
    ``…:read``, and ``family`` its own ``family:read``."""
    if scope in held or "all" in held:
        return True
    if scope.endswith(":read"):
        return "all:read" in held or scope.removesuffix(":read") in held
    return False


def _granted(requested: frozenset[str], held: frozenset[str]) -> frozenset[str]:
    """The scopes a token gets: what was asked for, narrowed to what the client holds (a
    request for ``all`` gets the client's own scopes, ``all:read`` their read halves)."""
    granted = {s for s in requested if _covers(held, s)}
    for scope in held:
        if _covers(requested, scope):
            granted.add(scope)
        elif not scope.endswith(":read") and _covers(requested, f"{scope}:read"):
            granted.add(f"{scope}:read")
    return frozenset(granted)


def _formatted(text: str) -> str:
    """Stand-in for ``hujson.Format``: indentation, trailing spaces and blank lines do not
    count, comments and everything else do (a comment edited in the console changes the
    ETag, as it does for real)."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def _json_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise _error(400, f"invalid JSON body: {exc}") from None
    if not isinstance(value, dict):
        raise _error(400, "expected a JSON object")
    return value


def _filter_matches(value: Any, wanted: str) -> bool:
    if isinstance(value, list):
        return wanted in value
    if isinstance(value, bool):
        return wanted.lower() == str(value).lower()
    return str(value) == wanted


class _Handler(BaseHTTPRequestHandler):
    server: _DoubleServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.double.handle(self.command, self.path, dict(self.headers), body)
        if reply.body is None:
            payload, content_type = b"", "application/json"
        elif isinstance(reply.body, str):
            payload, content_type = reply.body.encode(), "application/hujson"
        else:
            payload, content_type = json.dumps(reply.body).encode(), "application/json"
        self.send_response(reply.status)
        headers = {"Content-Type": content_type, **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests read ``double.requests`` instead of a log."""


class _DoubleServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], double: TailscaleAPIDouble) -> None:
        super().__init__(address, _Handler)
        self.double = double


@dataclass
class RunningDouble:
    """A double being served: where to reach it and a ready-made API token."""

    api: TailscaleAPIDouble
    base_url: str
    api_token: str


@contextmanager
def serve_tailscale_double(
    double: TailscaleAPIDouble | None = None, *, port: int = 0
) -> Iterator[RunningDouble]:
    """Serve the test double on 127.0.0.1 (an OS-chosen port by default) until exit."""
    api = double or TailscaleAPIDouble()
    token = api.add_api_token()
    server = _DoubleServer(("127.0.0.1", port), api)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="tailscale-double", daemon=True
    )
    thread.start()
    try:
        bound = server.server_address[1]
        yield RunningDouble(api=api, base_url=f"http://127.0.0.1:{bound}/api/v2", api_token=token)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
