"""Contract tests: the real Graph client against the sandbox over HTTP (live server)."""

from __future__ import annotations

import json

import pytest
import requests

from integrations.facebook import errors
from integrations.facebook.results import SerializedRows, UploadSession, new_session_id
from integrations.sandbox import selectors
from integrations.sandbox.models import SandboxAudience
from integrations.sandbox.selectors import approximate_bounds
from tests.integrations.sandbox.conftest import SCHEMA, Sandbox, matched_count, population_rows, sha


def _session(session_id: int, seq: int, last: bool, total: int | None = None) -> UploadSession:
    return UploadSession(session_id=session_id, batch_seq=seq, last_batch_flag=last, estimated_num_total=total)


def _stored(audience_id: str) -> tuple[int, str]:
    return selectors.audience_stored_digest(audience=SandboxAudience.objects.get(fb_id=audience_id))


def test_audience_lifecycle_add_25000_remove_12000_and_read_the_size(sandbox: Sandbox) -> None:
    client = sandbox.client()
    audience_id = client.custom_audience_create(name="Churn risk", description="from Amplitude")
    rows = population_rows(0, 25_000)

    add_session = new_session_id()
    batches = [rows[0:10_000], rows[10_000:20_000], rows[20_000:25_000]]
    results = [
        client.users_add(
            audience_id,
            schema=SCHEMA,
            rows=SerializedRows(json.dumps(batch), len(batch)) if seq == 2 else batch,
            session=_session(add_session, seq, seq == 3, 25_000),
        )
        for seq, batch in enumerate(batches, start=1)
    ]
    assert [r.num_received for r in results] == [10_000, 10_000, 5_000]
    assert all(r.num_invalid_entries == 0 and r.session_id == add_session for r in results)

    remove_session = new_session_id()
    removed = rows[:12_000]
    client.users_remove(audience_id, schema=SCHEMA, rows=removed[:10_000], session=_session(remove_session, 1, False))
    last = client.users_remove(
        audience_id, schema=SCHEMA, rows=removed[10_000:], session=_session(remove_session, 2, True)
    )
    assert last.num_received == 2_000

    audience = client.custom_audience(audience_id)
    expected_matched = matched_count(12_000, 25_000)
    assert (audience.approximate_count_lower_bound, audience.approximate_count_upper_bound) == approximate_bounds(
        expected_matched
    )
    assert audience.approximate_count_lower_bound <= expected_matched <= audience.approximate_count_upper_bound
    assert audience.delivery_status.code == 200
    assert audience.operation_status.description == "Normal"
    assert _stored(audience_id) == (13_000, selectors.audience_rows_digest(rows[12_000:], schema=SCHEMA))

    sessions = list(client.audience_sessions(audience_id))
    assert sorted(s.num_received for s in sessions) == [12_000, 25_000]
    assert all(s.stage == "finished" for s in sessions)
    assert client.calls_made == 8  # create, 3 adds, 2 removals, read, sessions: the minimum


@pytest.mark.parametrize(
    ("rows", "expected", "code"),
    [
        pytest.param([["a" * 64, "b" * 64]] * 10_001, errors.PayloadTooLarge, 105, id="10001-rows"),
        pytest.param([[sha("x@example.com"), ""], ["Ann@Example.com", ""]], errors.InvalidRequest, 100, id="unhashed"),
        pytest.param([["a" * 64, "b" * 64], ["c" * 64]], errors.InvalidRequest, 100, id="wrong-length"),
        pytest.param([["A" * 64, ""]], errors.InvalidRequest, 100, id="upper-case-hex"),
    ],
)
def test_the_sandbox_refuses_rule_breaking_payloads_with_metas_code(sandbox: Sandbox, rows, expected, code) -> None:
    client = sandbox.client()
    audience_id = client.custom_audience_create(name="Strict")

    with pytest.raises(expected) as caught:
        client.users_add(audience_id, schema=SCHEMA, rows=rows, session=_session(new_session_id(), 1, True))

    assert caught.value.code == code
    assert caught.value.fbtrace_id
    assert _stored(audience_id)[0] == 0


def test_out_of_order_batches_are_refused_and_a_resent_batch_is_idempotent(sandbox: Sandbox) -> None:
    client = sandbox.client()
    audience_id = client.custom_audience_create(name="Ordered")
    rows = population_rows(0, 30)
    session_id = new_session_id()

    with pytest.raises(errors.UploadSessionRejected) as caught:
        client.users_add(audience_id, schema=SCHEMA, rows=rows[:10], session=_session(session_id, 2, False))
    assert (caught.value.code, caught.value.subcode) == (2650, 1870147)

    client.users_add(audience_id, schema=SCHEMA, rows=rows[:10], session=_session(session_id, 1, False))
    client.users_add(audience_id, schema=SCHEMA, rows=rows[:10], session=_session(session_id, 1, False))  # resend
    with pytest.raises(errors.UploadSessionRejected):
        client.users_add(audience_id, schema=SCHEMA, rows=rows[10:20], session=_session(session_id, 3, False))
    client.users_add(audience_id, schema=SCHEMA, rows=rows[10:20], session=_session(session_id, 2, True))
    with pytest.raises(errors.UploadSessionRejected):  # the session has ended
        client.users_add(audience_id, schema=SCHEMA, rows=rows[20:], session=_session(session_id, 3, True))

    # Adding rows already there and removing absent ones change nothing.
    client.users_add(audience_id, schema=SCHEMA, rows=rows[:5], session=_session(new_session_id(), 1, True))
    client.users_remove(audience_id, schema=SCHEMA, rows=rows[25:], session=_session(new_session_id(), 1, True))
    assert _stored(audience_id) == (20, selectors.audience_rows_digest(rows[:20], schema=SCHEMA))


def test_usersreplace_keeps_only_the_replace_sessions_rows(sandbox: Sandbox) -> None:
    client = sandbox.client()
    audience_id = client.custom_audience_create(name="Replaced")
    old, new = population_rows(0, 50), population_rows(40, 120)
    client.users_add(audience_id, schema=SCHEMA, rows=old, session=_session(new_session_id(), 1, True))

    session_id = new_session_id()
    client.users_replace(audience_id, schema=SCHEMA, rows=new[:60], session=_session(session_id, 1, False))
    assert _stored(audience_id)[0] == 60  # the first batch wiped the audience
    client.users_replace(audience_id, schema=SCHEMA, rows=new[60:], session=_session(session_id, 2, True))

    assert _stored(audience_id) == (80, selectors.audience_rows_digest(new, schema=SCHEMA))


def test_schema_order_and_empty_rows(sandbox: Sandbox) -> None:
    client = sandbox.client()
    audience_id = client.custom_audience_create(name="Shapes")
    rows = population_rows(0, 3)
    swapped = [[phone, email] for email, phone in rows]

    client.users_add(audience_id, schema=SCHEMA, rows=rows, session=_session(new_session_id(), 1, True))
    result = client.users_add(
        audience_id, schema=["PHONE", "EMAIL"], rows=[*swapped, ["", ""]], session=_session(new_session_id(), 1, True)
    )

    assert (result.num_received, result.num_invalid_entries) == (4, 1)
    assert _stored(audience_id)[0] == 3  # the same people in another key order are the same rows


def test_a_body_over_the_cap_is_refused_as_too_large(sandbox: Sandbox, settings) -> None:
    settings.SANDBOX_MAX_BODY_BYTES = 50_000
    client = sandbox.client()
    audience_id = client.custom_audience_create(name="Capped")

    with pytest.raises(errors.PayloadTooLarge):
        client.users_add(audience_id, schema=SCHEMA, rows=population_rows(0, 500), session=_session(1, 1, True))
    assert client.calls_made == 2  # not retried as is


def test_ten_thousand_removals_travel_in_the_body(sandbox: Sandbox) -> None:
    client = sandbox.client()
    audience_id = client.custom_audience_create(name="Big removal")
    rows = population_rows(0, 10_000)
    client.users_add(audience_id, schema=SCHEMA, rows=rows, session=_session(new_session_id(), 1, True))

    result = client.users_remove(audience_id, schema=SCHEMA, rows=rows, session=_session(new_session_id(), 1, True))

    assert result.num_received == 10_000
    assert _stored(audience_id)[0] == 0


def test_small_audiences_report_below_1000(sandbox: Sandbox) -> None:
    client = sandbox.client()
    audience_id = client.custom_audience_create(name="Tiny")
    client.users_add(audience_id, schema=SCHEMA, rows=population_rows(0, 50), session=_session(1, 1, True))

    audience = client.custom_audience(audience_id)

    assert audience.size_label == "below 1,000"
    assert audience.delivery_status.code == 300
    assert [a.id for a in client.custom_audiences()] == [audience_id]


def test_graph_answers_carry_metas_headers(sandbox: Sandbox) -> None:
    token = sandbox.token()
    response = requests.get(
        f"{sandbox.url}/v25.0/{sandbox.seeded['ready'].act_id}", params={"access_token": token}, timeout=10
    )
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert response.headers["x-fb-trace-id"]
    assert "X-Business-Use-Case-Usage" in response.headers
    assert response.json() == {"id": "act_200000000000101", "account_id": "200000000000101"}


def test_unknown_fields_paths_and_old_versions(sandbox: Sandbox) -> None:
    client = sandbox.client()
    with pytest.raises(errors.InvalidRequest, match="nonexisting field"):
        client.ad_account(fields=["id", "approximate_count"])
    for version, code in (("v20.0", 2635), ("v26.0", None)):
        with sandbox.client(version=version) as other:
            if code:
                with pytest.raises(errors.InvalidRequest) as caught:
                    other.me()
                assert caught.value.code == code
            else:
                assert other.me()["name"] == "Robin Ready"
    response = requests.get(f"{sandbox.url}/v25.0/act_1/nothing_here", timeout=10)
    assert response.json()["error"]["code"] == 2500
