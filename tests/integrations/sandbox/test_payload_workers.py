"""run_sandbox --payload-workers: large upload bodies checked in worker processes give the
answers, the refusals (at the same point of the call) and the audience the request thread
gives on its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.facebook.client import GraphClient
from integrations.facebook.errors import GraphError
from integrations.facebook.results import UploadSession
from integrations.sandbox import payload_workers, selectors, services
from integrations.sandbox.models import SandboxAudience
from integrations.sandbox.server import sandbox_server_in_thread
from integrations.sandbox.views import graph as graph_views
from tests.integrations.sandbox.conftest import SCHEMA, matched_count, population_rows

# Enough rows for a body above payload_workers.MIN_BODY_BYTES (about 135 bytes a row).
ROWS = 2_000


@pytest.fixture
def standalone(transactional_db) -> Iterator[dict]:
    seeded = services.sandbox_seed()
    token = services.sandbox_token_issue(person=seeded["ready"].person)
    server, thread = sandbox_server_in_thread(port=0)
    clients: list[GraphClient] = []

    def client(access_token: str = token) -> GraphClient:
        made = GraphClient(access_token, ad_account_id=seeded["ready"].act_id,
                           base_url=f"http://127.0.0.1:{server.server_port}", version="v25.0")
        clients.append(made)
        return made

    try:
        yield {"client": client}
    finally:
        for made in clients:
            made.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def workers() -> Iterator[None]:
    payload_workers.start(2)
    try:
        yield
    finally:
        payload_workers.stop()


def _not_in_the_request_thread(payload: object) -> None:
    raise AssertionError("the body was checked in the request thread")


def _upload(client: GraphClient, rows: list[list[str]]) -> tuple[object, tuple[int, str], int]:
    audience_id = client.custom_audience_create(name="Checked")
    answer = client.users_add(audience_id, schema=SCHEMA, rows=rows, session=UploadSession(7, 1, True))
    audience = SandboxAudience.objects.get(fb_id=audience_id)
    size = selectors.audience_size(audience=audience)
    return (answer.num_received, answer.num_invalid_entries), selectors.audience_stored_digest(audience=audience), size


def test_a_large_body_checked_by_a_worker_gives_the_answer_and_audience_the_request_thread_gives(
    standalone, workers, monkeypatch
) -> None:
    rows = [*population_rows(0, ROWS), ["", ""]]  # one invalid entry: counted, not stored
    with monkeypatch.context() as patched:
        patched.setattr(graph_views, "parse_payload", _not_in_the_request_thread)
        with_workers = _upload(standalone["client"](), rows)
    payload_workers.stop()

    alone = _upload(standalone["client"](), rows)

    assert with_workers[0] == alone[0] == (ROWS + 1, 1)
    assert with_workers[1] == alone[1] == (ROWS, selectors.audience_rows_digest(rows[:-1], schema=SCHEMA))
    assert with_workers[2] == alone[2]
    assert matched_count(0, ROWS) > 0


def test_a_payload_a_worker_refuses_is_refused_with_metas_error(standalone, workers, monkeypatch) -> None:
    rows = population_rows(0, ROWS)
    rows[1500][0] = "person1500@example.com"  # not hashed
    client = standalone["client"]()
    audience_id = client.custom_audience_create(name="Refused")
    monkeypatch.setattr(graph_views, "parse_payload", _not_in_the_request_thread)

    with pytest.raises(GraphError) as refused:
        client.users_add(audience_id, schema=SCHEMA, rows=rows, session=UploadSession(7, 1, True))

    assert refused.value.code == 100
    assert "row 1500 is not hashed" in refused.value.message
    assert selectors.audience_row_keys(audience=SandboxAudience.objects.get(fb_id=audience_id)) == set()


def test_the_token_is_checked_before_the_payload_a_worker_refused(standalone, workers) -> None:
    rows = population_rows(0, ROWS)
    rows[0][0] = "not-hashed@example.com"
    audience_id = standalone["client"]().custom_audience_create(name="Guarded")

    with pytest.raises(GraphError) as refused:
        standalone["client"]("EAAB-not-a-token").users_add(
            audience_id, schema=SCHEMA, rows=rows, session=UploadSession(7, 1, True)
        )

    assert refused.value.code == 190  # the token, not the payload: as without workers
