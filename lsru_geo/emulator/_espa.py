"""The ESPA on-demand API (``/api``, ``/api/v0/...``, ``/api/v1/...``), as ``espa-api.md`` sections 1-4 describe it.

Fidelity points: HTTP basic auth with the user's password on every resource, ``/api`` included (401
``Invalid username/password``); ``v0`` and ``v1`` are routed identically; GET requests carry JSON bodies
(read leniently: a malformed filter is no filter); ``POST``/``PUT`` on read-only resources answer 405
``Invalid method. Try GET instead``; an unknown path is 404 ``<path> not found on the server`` (before auth,
as Flask routes first) and an unknown version 404 ``Invalid API version N`` (also before auth, as ESPA's
``version_filter`` wraps the auth decorator); the order body is lower-cased except ``note`` and validated as
:mod:`._espa_validation` describes, failures being ``{"messages": {"errors": [{"<N> validation errors":
[...]}]}}``; ``POST /order`` answers 201 and ``PUT /order`` (cancel) 202; dates are ``str(datetime)``; order
ids are ``espa-<email>-MMDDYYYY-HHMMSS-mmm``. Orders progress on the emulator clock (:mod:`._espa_orders`).

Choices where the sources are silent (each tested):

* An unknown order id on ``order/<id>``, ``order-status/<id>`` and a cancel answers 200
  ``{"messages": {"warnings": ["No results found."]}}`` (ESPA's ``IndexError`` handler) rather than a 500;
  ``item-status/<id>`` answers ``{}`` as its code path does, and an unknown item name ``{"<id>": []}``.
* ``list-orders`` filters on ``status`` (a value or a list) and on the other order fields (``orderid``,
  ``note``, ``order_source``, ``order_type``, ``priority``); other keys are ignored. Orders come newest first.
* ``item-status`` filters on ``status`` and ``name``; a list of statuses is accepted too.
* The open-unit limit counts the user's scene items in ``submitted, oncache, onorder, tasked, scheduled,
  retry, processing`` (not the ``plot`` item), and is checked after validation.
* ``/user`` has no first and last names to report: ``first_name`` is the capitalised user name and
  ``last_name`` ``"User"``, unless the account object carries ``first_name``/``last_name``.
* ``product-groups`` and the staff routes are not emulated (404).
* A body nested more than 100 levels deep (``MAX_DEPTH``) reads as no body, like malformed JSON; in an order,
  ``NaN``, ``Infinity`` (which Python's JSON reader accepts) and integers beyond a double are not numbers, so
  they fail validation with a 400 where ESPA's own arithmetic would likely end in a 500.

Faults of kind ``"code"`` (``emulator.faults.add("espa", "order", "code", code="ERS_DOWN")``) answer one of
ESPA's documented failure bodies: ``ERS_DOWN``/``DB_DOWN`` (503 warnings), ``ACCESS_DENIED`` (403),
``SYSTEM_ERROR`` (500), ``PROVIDER_ERROR`` (200 ``{"msg": ...}``), ``INVENTORY_DOWN`` (400 warning).
"""

from __future__ import annotations

import base64
import binascii
import json
import traceback

from . import _catalogue as cat
from ._espa_orders import Delivery, Order, OrderBook, Rates
from ._espa_validation import (
    FORMATS,
    PROJECTIONS,
    RESAMPLING_METHODS,
    SENSORS,
    OrderValidationError,
    available_products,
    lowercase_all,
    order_schema,
    validate,
)
from ._server import JSON_TYPE, Request, Response

VERSIONS = {"0": "Version 0 of the ESPA API", "1": "Version 1 of the ESPA API"}
SYSTEM_ERROR = "System experienced an exception. Admins have been notified"
PROVIDER_ERROR = {"msg": "there's been a problem retrieving your information. admins have been notified"}
ORDER_FILTERS = ("orderid", "status", "note", "order_source", "order_type", "priority")

# resource -> (methods, fewest and most path arguments, a trailing slash routed when there is no argument)
RESOURCES = {
    "user": (("GET",), 0, 0, True),
    "available-products": (("GET",), 0, 1, True),
    "projections": (("GET",), 0, 0, False),
    "formats": (("GET",), 0, 0, False),
    "resampling-methods": (("GET",), 0, 0, False),
    "order-schema": (("GET",), 0, 0, False),
    "list-orders": (("GET",), 0, 1, True),
    "order": (("GET", "POST", "PUT"), 0, 1, True),
    "order-status": (("GET",), 1, 1, False),
    "item-status": (("GET",), 0, 2, False),
    "info": (("GET",), 1, 1, False),
}


def _operations(version: str) -> dict:
    """``GET /api/v<N>``: the operations ESPA lists for a version (v1 keeps its advertised ``POST``)."""
    base = f"/api/v{version}"
    methods = ["HEAD", "GET"] if version != "0" else ["GET"]
    listing = {
        "/api": {"function": "list versions", "methods": methods},
        base: {"function": "list operations", "methods": methods},
        f"{base}/available-products/<product_ids>": {
            "function": "list available products per sceneid",
            "comments": "comma separated ids supported",
            "methods": methods,
        },
        f"{base}/available-products": {
            "function": "list available products per sceneid",
            "comments": "sceneids should be delivered in the inputs parameter"
            if version == "0"
            else "sceneids should be delivered in the product_ids parameter, comma separated if more than one",
            "methods": ["GET"] if version == "0" else ["HEAD", "POST"],
        },
        f"{base}/projections": {"function": "list available projections", "methods": methods},
        f"{base}/formats": {"function": "list available output formats", "methods": methods},
        f"{base}/resampling-methods": {"function": "list available resampling methods", "methods": methods},
        f"{base}/list-orders": {"function": "list orders for authenticated user", "methods": methods},
        f"{base}/list-orders/<email>": {
            "function": "list orders for supplied email, for user collaboration",
            "methods": methods,
        },
        f"{base}/order/<ordernum>": {"function": "retrieves a submitted order", "methods": methods},
    }
    if version == "0":
        listing[f"{base}/order"] = {
            "function": "creating/fetching processing requests via HTTP POST with JSON body",
            "methods": ["GET", "POST", "PUT"],
        }
    else:
        listing[f"{base}/order"] = {
            "function": "point for accepting processing requests via HTTP POST with JSON body. "
            "Errors are returned to user, successful validation returns an orderid",
            "methods": ["POST"],
        }
    return {"description": VERSIONS[version], "operations": listing}


def _json(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Answer JSON as Flask writes it (compact, slashes not escaped)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status=status, body=body, headers={"Content-Type": JSON_TYPE, **(headers or {})})


def _errors(*messages: object, status: int = 400) -> Response:
    return _json({"messages": {"errors": list(messages)}}, status)


def _warnings(*messages: str, status: int = 200) -> Response:
    return _json({"messages": {"warnings": list(messages)}}, status)


def _body(request: Request) -> object:
    """Read the JSON body as ESPA does (``get_json(force=True, silent=True)``): ``None`` if absent or bad."""
    try:
        return request.json()
    except ValueError:  # malformed, or nested deeper than the handlers go
        return None


class EspaService:
    """Handler of ``/api...``; ``emulator`` gives users, clock, options, faults and the file host."""

    def __init__(self, emulator) -> None:
        self.emulator = emulator
        self.last_exception = ""  # traceback of the last request that answered 500, for debugging
        options = emulator.options
        self.book = OrderBook(
            Delivery(lambda: self.emulator.files, lambda: options.cache_dir, lambda: options.raster_size)
        )

    def reset(self) -> None:
        self.book.clear()

    # -- routing --------------------------------------------------------------------------------------
    def endpoint_of(self, rest: str) -> str:
        """Endpoint name for faults and the log: ``versions``, ``operations`` or the resource (``order``...)."""
        parts = rest.strip("/").split("/")
        if not parts[0]:
            return "versions"
        return parts[1] if len(parts) > 1 else "operations"

    def _now(self) -> float:
        return self.emulator.clock.timestamp()

    def _purge_seconds(self) -> float:
        return float(self.emulator.options.purge_days) * 86400.0

    def handle(self, request: Request) -> Response:
        rest = request.path[len("/api") :]
        if rest and not rest.startswith("/"):
            return self._not_found(request)
        parts = rest[1:].split("/") if rest else [""]
        if parts == [""]:
            return self._serve(request, None, "versions", [], ("GET",))
        if not parts[0].startswith("v"):
            return self._not_found(request)
        version = parts[0][1:]
        if len(parts) == 1 or parts[1:] == [""]:
            return self._serve(request, version, "operations", [], ("GET",))
        resource, args = parts[1], parts[2:]
        spec = RESOURCES.get(resource)
        if spec is None:
            return self._not_found(request)
        methods, fewest, most, slash = spec
        if args and args[-1] == "":
            if not (slash and len(args) == 1):
                return self._not_found(request)
            args = []
        if (
            not fewest <= len(args) <= most
            or "" in args
            or (resource == "info" and args[0] not in ("status", "backlog"))
        ):
            return self._not_found(request)
        if version not in VERSIONS:  # ESPA's version filter runs before authentication
            return _errors(f"Invalid API version {version}", status=404)
        return self._serve(request, version, resource, args, methods)

    def _not_found(self, request: Request) -> Response:
        return _errors(f"{request.path} not found on the server", status=404)

    def _serve(
        self, request: Request, version: str | None, resource: str, args: list[str], methods: tuple[str, ...]
    ) -> Response:
        user = self._authenticate(request)
        if user is None:
            return _json(
                {"messages": {"errors": ["Invalid username/password"]}},
                401,
                {"WWW-Authenticate": 'Basic realm="Authentication Required"'},
            )
        method = "GET" if request.method == "HEAD" else request.method
        if method not in methods:
            return _errors("Invalid method. Try GET instead", status=405)
        fault = self.emulator.faults.take("espa", request.endpoint or resource, ("code",))
        if fault is not None:
            return self._fault(fault)
        try:
            self.book.refresh(self._now(), self._purge_seconds())
            if resource == "versions":
                return _json({f"v{v}": text for v, text in VERSIONS.items()})
            if resource == "operations":
                if version not in VERSIONS:
                    return _errors(f"Invalid api version {version}. Options: {', '.join(VERSIONS)}", status=404)
                return _json(_operations(version))
            handler = getattr(self, "_" + resource.replace("-", "_"))
            return handler(request, user, method, args)
        except Exception:  # a bug must look like ESPA's 500, not a dropped connection
            self.last_exception = traceback.format_exc()
            return _errors(SYSTEM_ERROR, status=500)

    def _authenticate(self, request: Request):
        header = request.header("authorization") or ""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, _, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user = self.emulator.users.get(username)
        if user is None or user.password != password:
            return None
        return user

    @staticmethod
    def _fault(fault) -> Response:
        code = str(fault.code or "")
        if code == "ERS_DOWN":
            return _warnings("ERS connection failed", status=503)
        if code == "DB_DOWN":
            return _warnings("Database connection failed", status=503)
        if code == "ACCESS_DENIED":
            return _errors("Access Denied", status=403)
        if code == "PROVIDER_ERROR":
            return _json(PROVIDER_ERROR)
        if code == "INVENTORY_DOWN":
            return _warnings("Could not connect to data source", status=400)
        return _errors(fault.message or SYSTEM_ERROR, status=500)

    # -- information ----------------------------------------------------------------------------------
    def _user(self, request: Request, user, method: str, args: list[str]) -> Response:
        return _json(
            {
                "email": user.email,
                "first_name": getattr(user, "first_name", None) or user.username.capitalize(),
                "last_name": getattr(user, "last_name", None) or "User",
                "roles": ["active"],
                "username": user.username,
            }
        )

    def _available_products(self, request: Request, user, method: str, args: list[str]) -> Response:
        if args:
            inputs = [args[0]]  # ESPA wraps the path value in a list: a comma list is one unknown id
        else:
            body = _body(request)
            if not isinstance(body, dict) or body.get("inputs") is None:
                return _errors("No input products supplied")
            inputs = body["inputs"]
            if isinstance(inputs, str):
                inputs = inputs.split(",")
            if not isinstance(inputs, list):
                return _errors("No input products supplied")
        return _json(available_products([str(i) for i in inputs]))

    def _projections(self, request: Request, user, method: str, args: list[str]) -> Response:
        return _json(PROJECTIONS)

    def _formats(self, request: Request, user, method: str, args: list[str]) -> Response:
        return _json({"formats": FORMATS})

    def _resampling_methods(self, request: Request, user, method: str, args: list[str]) -> Response:
        return _json({"resampling_methods": RESAMPLING_METHODS})

    def _order_schema(self, request: Request, user, method: str, args: list[str]) -> Response:
        return _json(order_schema())

    def _info(self, request: Request, user, method: str, args: list[str]) -> Response:
        if args[0] == "backlog":
            return _json(self.book.backlog(self._now()))
        return _json({"system_message_body": None, "system_message_title": None, "display_system_message": False})

    # -- orders ---------------------------------------------------------------------------------------
    def _list_orders(self, request: Request, user, method: str, args: list[str]) -> Response:
        filters = _body(request)
        if filters and not isinstance(filters, dict):
            return _errors("Invalid filters supplied")
        owner = user
        if args:
            wanted = args[0]
            owner = next((u for u in self.emulator.users.values() if wanted in (u.username, u.email)), None)
            if owner is None:
                return _warnings(f"Username/email {wanted} not found")
        now, purge = self._now(), self._purge_seconds()
        with self.book.lock:
            orders = [o for o in self.book.orders.values() if o.username == owner.username]
            orders.sort(key=lambda o: (o.placed, o.orderid), reverse=True)
            views = [self.book.order_view(o, now, purge) for o in orders]
        for key, wanted in (filters or {}).items():
            if key in ORDER_FILTERS:
                allowed = wanted if isinstance(wanted, list) else [wanted]
                views = [v for v in views if v[key] in allowed]
        return _json([v["orderid"] for v in views])

    def _find(self, orderid: str) -> Order | None:
        with self.book.lock:
            return self.book.orders.get(orderid)

    def _order(self, request: Request, user, method: str, args: list[str]) -> Response:
        if method == "POST":
            return self._place(request, user)
        if method == "PUT":
            return self._cancel(request, user)
        if args:
            orderid = args[0]
        else:
            body = _body(request)
            if not isinstance(body, dict) or body.get("orderid") is None:
                return _errors("No orderid supplied")
            orderid = str(body["orderid"])
        order = self._find(orderid)
        if order is None:
            return _warnings("No results found.")
        return _json(self.book.order_view(order, self._now(), self._purge_seconds()))

    def _order_status(self, request: Request, user, method: str, args: list[str]) -> Response:
        order = self._find(args[0])
        if order is None:
            return _warnings("No results found.")
        return _json({"orderid": order.orderid, "status": order.status_at(self._now(), self._purge_seconds())})

    def _item_status(self, request: Request, user, method: str, args: list[str]) -> Response:
        filters = _body(request)
        if filters and not isinstance(filters, dict):
            return _errors("Invalid filters supplied")
        filters = filters or {}
        now, purge = self._now(), self._purge_seconds()
        name = filters.get("name") or (args[1] if len(args) > 1 else None)
        statuses = filters.get("status")
        if statuses is not None and not isinstance(statuses, list):
            statuses = [statuses]
        with self.book.lock:
            if args:
                orders = [o for o in [self.book.orders.get(args[0])] if o is not None]
            else:
                orders = [o for o in self.book.orders.values() if o.username == user.username]
            answer = {}
            for order in orders:
                views = [self.book.item_view(order, item, now, purge) for item in order.items]
                answer[order.orderid] = [
                    v
                    for v in views
                    if (name is None or v["name"] == name) and (statuses is None or v["status"] in statuses)
                ]
        return _json(answer)

    def _place(self, request: Request, user) -> Response:
        body = _body(request)
        if body is None:
            return _errors("Could not parse request into JSON")
        if not body or not isinstance(body, dict):
            return _errors("Must supply order JSON")
        try:
            product_opts = validate(lowercase_all(body))
        except OrderValidationError as failure:
            return _errors(failure.response)
        sensors = [key for key in product_opts if key in SENSORS]
        options = self.emulator.options
        rates = Rates(
            float(options.processing_seconds),
            float(options.error_rate),
            float(options.retry_rate),
            float(options.unavailable_rate),
        )
        with self.book.lock:  # the limit check and the placing must not interleave with another order
            now = self._now()
            wanted = sum(len(product_opts[key]["inputs"]) for key in sensors)
            total = self.book.open_units(user.username, now) + wanted
            limit = int(options.open_unit_limit)
            if total > limit:
                return _errors(
                    f"Order will exceed open scene limit of {limit}, please reduce number of ordered scenes "
                    f"by {total - limit}"
                )
            today = self.emulator.clock.now().date()
            order = self.book.place(
                user.username,
                user.email,
                product_opts,
                sensors,
                now,
                rates,
                lambda product_id: cat.describe(product_id, today),
            )
        return _json({"orderid": order.orderid, "status": "ordered"}, 201)

    def _cancel(self, request: Request, user) -> Response:
        body = _body(request)
        if body is None and request.body.strip():
            return _errors("Could not parse request into JSON")
        if not isinstance(body, dict) or body.get("orderid") is None:
            return _errors("No orderid supplied")
        if body.get("status") != "cancelled":
            return _errors("Invalid status supplied")
        orderid = str(body["orderid"])
        with self.book.lock:
            order = self.book.orders.get(orderid)
            if order is None:
                return _warnings("No results found.")
            if order.username != user.username:
                return _errors(f"User {user.username} is not allowed to cancel order {orderid}", status=403)
            now = self._now()
            status = order.status_at(now, self._purge_seconds())
            if status != "ordered":
                return _errors(f'Order {orderid} is already in a "{status}" state')
            self.book.cancel(order, now)
            self.book.refresh(now, self._purge_seconds())
        return _json({"orderid": orderid, "status": "cancelled"}, 202)
