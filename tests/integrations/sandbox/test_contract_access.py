"""The sandbox's access rules over HTTP: the three common errors, tokens, proofs, gone and flagged audiences."""

from __future__ import annotations

import pytest

from integrations.facebook import errors
from integrations.facebook.results import UploadSession
from integrations.sandbox import services
from integrations.sandbox.models import SandboxToken
from tests.integrations.sandbox.conftest import SCHEMA, Sandbox, population_rows

ONE_BATCH = UploadSession(session_id=7, batch_seq=1, last_batch_flag=True)


def test_the_ready_person_sees_an_account_fit_for_audiences(sandbox: Sandbox) -> None:
    client = sandbox.client()

    accounts = list(client.ad_accounts())
    account = client.ad_account()

    assert [a.id for a in accounts] == ["act_200000000000101"]
    assert account.in_business_manager and account.custom_audience_terms_accepted and account.is_active
    assert client.permissions() == {
        "public_profile": "granted",
        "ads_management": "granted",
        "business_management": "granted",
        "ads_read": "granted",
    }


def test_terms_not_accepted_is_refused_with_the_acceptance_link(sandbox: Sandbox) -> None:
    client = sandbox.client("terms")

    assert not client.ad_account().custom_audience_terms_accepted
    with pytest.raises(errors.TermsNotAccepted) as caught:
        client.custom_audience_create(name="x")

    assert caught.value.code == 2663
    assert caught.value.acceptance_url == (
        "https://business.facebook.com/ads/manage/customaudiences/tos/?act=200000000000102"
    )


def test_an_ad_account_outside_a_business_manager_is_refused(sandbox: Sandbox) -> None:
    client = sandbox.client("no_business")

    assert not client.ad_account().in_business_manager
    with pytest.raises(errors.NoBusinessManager):
        client.custom_audience_create(name="x")


def test_a_read_only_person_cannot_create_or_update_audiences(sandbox: Sandbox) -> None:
    ready = sandbox.client()
    audience_id = ready.custom_audience_create(name="Shared")
    services.sandbox_role_set(
        ad_account_id=sandbox.seeded["ready"].act_id,
        person=sandbox.seeded["no_permission"].person,
        role="analyst",
    )
    reader = sandbox.client("no_permission", ad_account_id=sandbox.seeded["ready"].act_id)

    assert reader.custom_audience(audience_id).id == audience_id  # reading is allowed
    with pytest.raises(errors.PermissionMissing, match="can not update audience"):
        reader.users_add(audience_id, schema=SCHEMA, rows=population_rows(0, 2), session=ONE_BATCH)
    with pytest.raises(errors.PermissionMissing):
        sandbox.client("no_permission").custom_audience_create(name="x")


def test_switching_the_terms_off_mid_way_stops_uploads_until_accepted_again(sandbox: Sandbox) -> None:
    client = sandbox.client()
    audience_id = client.custom_audience_create(name="Terms flip")
    act = sandbox.seeded["ready"].act_id

    services.sandbox_terms_set(ad_account_id=act, accepted=False)
    with pytest.raises(errors.TermsNotAccepted) as caught:
        client.users_add(audience_id, schema=SCHEMA, rows=population_rows(0, 5), session=ONE_BATCH)
    assert caught.value.code == 2655
    services.sandbox_terms_set(ad_account_id=act, accepted=True)

    assert client.users_add(audience_id, schema=SCHEMA, rows=population_rows(0, 5), session=ONE_BATCH).num_received == 5


def test_a_missing_ads_management_scope_is_a_permission_error(sandbox: Sandbox) -> None:
    token = sandbox.token(scopes=["ads_read"], declined_scopes=["ads_management", "business_management"])
    client = sandbox.client(token=token)

    assert client.permissions()["ads_management"] == "declined"
    with pytest.raises(errors.PermissionMissing) as caught:
        client.custom_audience_create(name="x")
    assert "ads_management" in caught.value.fix


@pytest.mark.parametrize(
    ("change", "subcode"),
    [
        (lambda person: services.sandbox_tokens_expire(person=person), 463),
        (lambda person: services.sandbox_tokens_revoke(person=person), 458),
        (lambda person: services.sandbox_tokens_revoke(person=person, subcode=460), 460),
    ],
    ids=["expired", "app-removed", "password-changed"],
)
def test_expired_and_revoked_tokens_answer_190(sandbox: Sandbox, change, subcode: int) -> None:
    client = sandbox.client()
    client.me()
    change(sandbox.seeded["ready"].person)

    with pytest.raises(errors.TokenInvalid) as caught:
        client.me()

    assert (caught.value.code, caught.value.subcode) == (190, subcode)
    info = client.debug_token(app_id=sandbox.app_id, app_secret=sandbox.app_secret)
    assert not info.is_valid
    assert info.error_subcode == subcode


def test_disconnect_revokes_the_apps_permissions(sandbox: Sandbox) -> None:
    client = sandbox.client()

    assert client.revoke_permissions() is True

    with pytest.raises(errors.TokenInvalid) as caught:
        client.me()
    assert caught.value.subcode == 458


def test_unknown_tokens_and_wrong_proofs_are_refused(sandbox: Sandbox, settings) -> None:
    with pytest.raises(errors.TokenInvalid):
        sandbox.client(token="EAAnot-a-sandbox-token").me()
    with pytest.raises(errors.InvalidRequest, match="appsecret_proof"):
        sandbox.client(app_secret="not-the-app-secret").me()

    settings.SANDBOX_REQUIRE_APPSECRET_PROOF = True
    with pytest.raises(errors.InvalidRequest, match="require an appsecret_proof"):
        sandbox.client(app_secret=None).me()
    assert sandbox.client().me()["id"] == sandbox.seeded["ready"].person.fb_id


def test_a_deleted_audience_is_gone_for_reads_and_uploads(sandbox: Sandbox) -> None:
    client = sandbox.client()
    audience_id = client.custom_audience_create(name="Doomed")
    assert client.custom_audience_delete(audience_id) is True

    with pytest.raises(errors.AudienceGone) as read:
        client.custom_audience(audience_id)
    with pytest.raises(errors.AudienceGone) as upload:
        client.users_add(audience_id, schema=SCHEMA, rows=population_rows(0, 2), session=ONE_BATCH)

    assert (read.value.code, read.value.subcode) == (100, 33)
    assert upload.value.subcode == 1487366
    assert list(client.custom_audiences()) == []


def test_a_flagged_audience_refuses_uploads_and_says_so_in_its_status(sandbox: Sandbox) -> None:
    client = sandbox.client()
    audience_id = client.custom_audience_create(name="Flagged")
    services.sandbox_audience_flag_set(audience_id=audience_id, flagged=True)

    with pytest.raises(errors.AudienceFlagged):
        client.users_add(audience_id, schema=SCHEMA, rows=population_rows(0, 2), session=ONE_BATCH)
    assert client.custom_audience(audience_id).is_flagged


def test_another_persons_audience_does_not_exist_for_you(sandbox: Sandbox) -> None:
    audience_id = sandbox.client().custom_audience_create(name="Private")
    stranger = sandbox.client("no_business")

    with pytest.raises(errors.AudienceGone):
        stranger.custom_audience(audience_id)
    with pytest.raises(errors.PermissionMissing):
        stranger.ad_account(sandbox.seeded["ready"].act_id)


def test_app_tokens_cannot_speak_for_a_person(sandbox: Sandbox) -> None:
    app_token = sandbox.client().app_access_token(app_id=sandbox.app_id, app_secret=sandbox.app_secret)
    app_client = sandbox.client(token=app_token.access_token)

    with pytest.raises(errors.InvalidRequest) as caught:
        app_client.me()
    assert caught.value.code == 2500
    assert SandboxToken.objects.filter(kind=SandboxToken.Kind.APP).count() == 1
