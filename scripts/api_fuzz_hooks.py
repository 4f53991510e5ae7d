"""riposte's own checks for schemathesis (loaded by scripts/api-fuzz through SCHEMATHESIS_HOOKS).

RIPOSTE_FUZZ_ROLE says who the run is: "none" (no credentials), "reader", or anyone else.
"""

import json
import os

import schemathesis

PUBLIC = {"/healthz", "/readyz", "/api/v1/openapi.json"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _path(response):
    url = response.request.url
    path = url.split("://", 1)[-1]
    path = path[path.find("/"):] if "/" in path else "/"
    return path.split("?", 1)[0]


def _credentials(response):
    headers = response.request.headers
    cookie = headers.get("Cookie", "") or ""
    return bool(headers.get("Authorization")) or "riposte_session=" in cookie


def _error_code(response):
    try:
        return json.loads(response.content)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


@schemathesis.check
def riposte_no_data_without_credentials(ctx, response, case):
    """Without credentials every route but /healthz, /readyz and the OpenAPI document is a 401
    whose body is the `unauthenticated` error and nothing else."""
    if os.environ.get("RIPOSTE_FUZZ_ROLE") != "none" or _credentials(response):
        return None
    path = _path(response)
    if path in PUBLIC:
        return None
    if response.status_code != 401:
        raise AssertionError(
            f"{case.method} {path} without credentials answered {response.status_code}, not 401"
        )
    if _error_code(response) != "unauthenticated":
        raise AssertionError(f"{case.method} {path}: a 401 whose body is not the unauthenticated error")
    return True


@schemathesis.check
def riposte_reader_changes_nothing(ctx, response, case):
    """A reader's request that could change state is refused: 401 or 403 (405 for a method the
    route does not have), never a 2xx, nor a 400/404: the role is checked before the request is
    even read."""
    if os.environ.get("RIPOSTE_FUZZ_ROLE") != "reader":
        return None
    if case.method.upper() in SAFE_METHODS:
        return None
    if response.status_code not in (401, 403, 405):
        raise AssertionError(
            f"a reader's {case.method} {_path(response)} answered {response.status_code}, not 401/403"
        )
    return True
