"""The upload log: uploads are logged, and applied on read exactly as if each had been applied at once."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.sandbox import member_log, selectors, services
from integrations.sandbox.graph_errors import GraphRefusal
from integrations.sandbox.models import SandboxAudience, SandboxAudienceMember, SandboxUploadLog
from integrations.sandbox.rows import ParsedRows, membership_digest

pytestmark = pytest.mark.django_db

# A small universe of row keys, so that calls overlap, with the ends of the 64-bit range.
KEYS = [*range(-6, 18), -(2**63), 2**63 - 1]


def _matches(key: int) -> bool:
    return key % 3 == 0  # a row's match is a function of the row alone


def _parsed(keys: list[int]) -> ParsedRows:
    return ParsedRows(
        schema=["EMAIL"],
        keys=list(keys),
        matched=[_matches(key) for key in keys],
        num_received=len(keys),
        population_size=1000,
    )


def _audience(name: str = "Logged") -> SandboxAudience:
    account = services.sandbox_seed()["ready"].ad_account
    return services.audience_create(
        ad_account=account, name=name, description="", subtype="CUSTOM", customer_file_source="USER_PROVIDED_ONLY"
    )


def _upload(audience: SandboxAudience, operation: str, keys: list[int], session: dict | None) -> None:
    services.members_upload(audience=audience, operation=operation, parsed=_parsed(keys), session_spec=session)


def _session(session_id: int, seq: int, last: bool) -> dict:
    return {"session_id": session_id, "batch_seq": seq, "last_batch_flag": last, "estimated_num_total": None}


@dataclass
class DirectAudience:
    """What the sandbox did before the log: every call applied to the members as it arrived."""

    rows: dict[int, tuple[bool, int | None]] = field(default_factory=dict)  # key -> (matched, replace session)

    def add(self, keys: list[int], tag: int | None = None) -> None:
        for key in keys:
            if key in self.rows:
                if tag is not None:
                    self.rows[key] = (self.rows[key][0], tag)
            else:
                self.rows[key] = (_matches(key), tag)

    def remove(self, keys: list[int]) -> None:
        for key in keys:
            self.rows.pop(key, None)

    def replace(self, keys: list[int], tag: int, *, first: bool, closed: bool) -> None:
        if first:
            self.rows.clear()
        self.add(keys, tag)
        if closed:
            self.rows = {key: row for key, row in self.rows.items() if row[1] == tag}

    def state(self) -> tuple[int, int, str]:
        matched = sum(1 for flag, _ in self.rows.values() if flag)
        return len(self.rows), matched, membership_digest(sorted(self.rows))


@dataclass
class ReplaceSession:
    last_seq: int = 0
    closed: bool = False


def _held(audience: SandboxAudience) -> tuple[int, int, str]:
    """Size (from the counts kept on the audience) and digest, as the sandbox answers them."""
    size = selectors.audience_size(audience=audience)
    count, digest = selectors.audience_stored_digest(audience=audience)
    members = SandboxAudienceMember.objects.filter(audience=audience)
    # The kept counts agree with the member table itself.
    assert (size.rows, size.matched) == (count, members.filter(matched=True).count())
    return size.rows, size.matched, digest


keys_strategy = st.lists(st.sampled_from(KEYS), max_size=8)
call = st.one_of(
    st.tuples(st.just("add"), keys_strategy, st.booleans()),
    st.tuples(st.just("remove"), keys_strategy, st.booleans()),
    # (replace, keys, which of two sessions, last batch, send the last batch again)
    st.tuples(st.just("replace"), keys_strategy, st.integers(0, 1), st.booleans(), st.booleans()),
    st.tuples(st.just("read")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(call, min_size=1, max_size=14))
def test_logged_calls_applied_on_read_give_what_direct_application_gave(calls) -> None:
    audience = _audience()
    direct = DirectAudience()
    sessions: dict[int, ReplaceSession] = {}
    next_session = 1000
    for step in calls:
        kind = step[0]
        if kind == "read":  # a read at any point, also in the middle of a replace session
            assert _held(audience) == direct.state()
            continue
        keys = step[1]
        if kind in ("add", "remove"):
            next_session += 1
            _upload(audience, kind, keys, _session(next_session, 1, True) if step[2] else None)
            direct.add(keys) if kind == "add" else direct.remove(keys)
            continue
        _, keys, which, last, resend = step
        tag = 500 + which
        session = sessions.setdefault(tag, ReplaceSession())
        if resend and session.last_seq:
            seq = session.last_seq  # the last batch again: accepted, applied again
        elif session.closed:
            with pytest.raises(GraphRefusal):  # refused: nothing logged
                _upload(audience, "replace", keys, _session(tag, session.last_seq + 1, last))
            continue
        else:
            seq = session.last_seq + 1
        _upload(audience, "replace", keys, _session(tag, seq, last))
        first = session.last_seq == 0
        session.last_seq = seq
        session.closed = session.closed or last
        direct.replace(keys, tag, first=first, closed=session.closed)
    assert _held(audience) == direct.state()
    assert not SandboxUploadLog.objects.filter(audience=audience).exists()


def test_an_upload_is_logged_and_the_members_change_when_read() -> None:
    audience = _audience()
    _upload(audience, "add", [3, 1, 2, 3], _session(1, 1, True))

    entry = SandboxUploadLog.objects.get(audience=audience)
    assert (entry.operation, entry.session_id, entry.batch_seq) == ("add", 1, 1)
    assert not SandboxAudienceMember.objects.filter(audience=audience).exists()  # answered, not applied yet

    assert _held(audience) == (3, 1, membership_digest([1, 2, 3]))
    assert not SandboxUploadLog.objects.filter(audience=audience).exists()


def test_a_read_in_the_middle_of_a_replace_session_sees_the_wipe_and_the_batches_so_far() -> None:
    audience = _audience()
    _upload(audience, "add", [1, 2, 3, 4], None)
    _upload(audience, "replace", [3, 5], _session(77, 1, False))

    assert _held(audience) == (2, 1, membership_digest([3, 5]))  # the first batch emptied the audience

    _upload(audience, "add", [8, 9], None)  # another session adds meanwhile: dropped at the replace's end
    _upload(audience, "replace", [6, 9], _session(77, 2, False))
    assert _held(audience) == (5, 3, membership_digest([3, 5, 6, 8, 9]))
    _upload(audience, "replace", [], _session(77, 3, True))

    assert _held(audience) == (4, 3, membership_digest([3, 5, 6, 9]))


def test_a_resent_last_batch_is_answered_but_changes_nothing() -> None:
    audience = _audience()
    _upload(audience, "add", [1, 2], _session(9, 1, False))
    _upload(audience, "add", [1, 2], _session(9, 1, False))
    _upload(audience, "add", [4], _session(9, 2, True))
    with pytest.raises(GraphRefusal):
        _upload(audience, "add", [5], _session(9, 3, True))

    assert _held(audience) == (3, 0, membership_digest([1, 2, 4]))


def test_the_log_is_applied_in_sorted_bulk_runs() -> None:
    audience = _audience()
    for batch in range(4):  # four lanes' batches interleaved: one run of adds
        _upload(audience, "add", [batch * 10 + 5, batch * 10 - 7], _session(batch + 1, 1, True))
    _upload(audience, "remove", [5, 15], None)
    entries = list(SandboxUploadLog.objects.filter(audience=audience).order_by("pk"))

    assert [len(run) for run in member_log._runs(entries)] == [4, 1]
    assert _held(audience)[0] == 6


@pytest.mark.django_db(transaction=True)
def test_two_readers_at_once_apply_the_log_once(monkeypatch) -> None:
    audience = _audience("Read twice")
    for batch in range(20):
        keys = list(range(batch * 500, batch * 500 + 500))
        _upload(audience, "add" if batch % 5 else "remove", keys, _session(batch + 1, 1, True))
    expected = DirectAudience()
    for batch in range(20):
        keys = list(range(batch * 500, batch * 500 + 500))
        expected.add(keys) if batch % 5 else expected.remove(keys)

    both_saw_pending = threading.Barrier(2, timeout=10)
    pending = member_log.members_pending

    def pending_then_wait(*, audience_pk: int) -> bool:
        found = pending(audience_pk=audience_pk)
        both_saw_pending.wait()  # both readers are past the check before either applies
        return found

    monkeypatch.setattr(member_log, "members_pending", pending_then_wait)
    applied: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            applied.append(member_log.members_settle(audience_pk=audience.pk))
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(timeout=60)

    assert not errors
    assert sorted(applied) == [0, 20]
    monkeypatch.setattr(member_log, "members_pending", pending)
    assert _held(audience) == expected.state()
