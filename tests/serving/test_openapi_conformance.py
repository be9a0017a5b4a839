"""The OpenAPI document tells the truth: schemathesis, every check, on every operation.

The real app is served by uvicorn with the limits ``recsys serve`` runs with (head size, slow
clients), over the published test shop (``world``) in the real Redis under a prefix of its own.
schemathesis reads ``/openapi.json`` from it and, for every operation, sends schema-valid and
schema-invalid requests (its examples, coverage and fuzzing phases) and runs all its checks on
each answer: no 5xx, status codes, content types, headers and bodies as declared, invalid input
refused, valid input accepted, missing auth refused, undeclared methods answered 405 with
``Allow``. The number of examples is bounded and the seed fixed, so a run is repeatable and short.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
import uvicorn

from serving.limits import uvicorn_options
from serving.main import create_app
from serving.settings import load_settings
from storage.connect import connect
from tests.conftest import TEST_DB, delete_prefix, free_port
from tests.serving import world

KEY = "conformance-key-1"
SEED = 20261130
MAX_EXAMPLES = 12


@pytest.fixture(scope="module")
def served(redis_server: str) -> Iterator[str]:
    """The base URL of the app, served by uvicorn in a thread; one key opens every route."""
    url, prefix = f"{redis_server}/{TEST_DB}", f"test:{uuid.uuid4().hex[:12]}:"
    client = connect(url)
    world.publish(client, prefix)
    settings = load_settings(redis_url=url, prefix=prefix, api_keys=KEY, admin_keys=KEY,
                             live_refresh_seconds=0)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False,
                                           **uvicorn_options(settings)))
    thread = threading.Thread(target=server.run, name="conformance-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        time.sleep(0.02)
    try:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/openapi.json").json() == DOCUMENT
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        delete_prefix(client, prefix)
        client.close()


DOCUMENT = create_app(load_settings(api_keys=KEY, admin_keys=KEY)).openapi()
"""The document, built without Redis; ``served`` checks that the served app's is the same."""

ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
"""schemathesis's answers to a schema-valid request (``positive_data_acceptance``)."""
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429",
            "431", "5xx"]
"""schemathesis's answers to a schema-invalid request (``negative_data_rejection``), and the
limits' refusals of a request too large to read: 413 (more than 1000 events, or a body over
``RECSYS_MAX_BODY_BYTES``) and 431 (a query string over ``RECSYS_MAX_HEAD_BYTES``)."""

LIVE_RULES = {
    ("GET", "/v1/users/{user_id}/recommendations"): "`category` is one of the live version's",
    ("POST", "/v1/users/{user_id}/push"): "`items` are in the live version's catalog",
    ("POST", "/v1/events"): "`event` is a type the live version weighs; `timestamp` is from 1970 "
                            "to a day from now",
}
"""The operations whose schema-valid requests may still break a rule of the live version, which
the document can only describe (its 422 says so): a 422 answers such a request."""

CONFIG = schemathesis.Config.from_dict({
    "seed": SEED,
    "headers": {"X-API-Key": KEY},
    "continue-on-failure": True,
    "generation": {"max-examples": MAX_EXAMPLES},
    "checks": {"negative_data_rejection": {"expected-statuses": REJECTED}},
    "operations": [
        {"include-method": method, "include-path": path, "checks": {"positive_data_acceptance": {
            "expected-statuses": [*ACCEPTED, "422"]}}}
        for method, path in LIVE_RULES],
})
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


@schema.parametrize()
def test_every_operation_conforms_to_the_openapi_document(case: schemathesis.Case,
                                                          served: str) -> None:
    case.call_and_validate(base_url=served)


def test_a_wrong_method_is_405_naming_every_method_of_the_path(served: str) -> None:
    response = httpx.delete(f"{served}/v1/users/u1/push", headers={"X-API-Key": KEY})
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"
    assert response.json() == {"error": {"code": "method_not_allowed",
                                         "message": "method not allowed; this route takes GET, "
                                                    "POST"}}


def test_a_body_that_is_not_utf8_is_the_422_of_bad_json(served: str) -> None:
    response = httpx.post(f"{served}/v1/users/u1/push", content=b'{"items": ["\xff"]}',
                          headers={"X-API-Key": KEY, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json() == {"error": {
        "code": "invalid_request",
        "message": "body: not JSON in UTF-8; send the JSON body this route describes"}}
