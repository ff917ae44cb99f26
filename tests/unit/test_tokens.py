"""TokenVerifier: the OpenID RP refusals for access, ID and back-channel logout tokens."""

from __future__ import annotations

import threading
import time
from typing import Any

import jwt
import pytest

from portal.auth import token_errors as errors
from portal.auth.jwks import JwksCache
from portal.auth.tokens import (
    BACKCHANNEL_LOGOUT_EVENT,
    JtiStore,
    MemoryJtiStore,
    TokenError,
    TokenVerifier,
    UnknownKeyError,
)

ISSUER = "http://kc.test/realms/dash"
AUDIENCE = "dash-api"
CLIENT_ID = "dash"
NONCE = "n-0S6_WzA2Mj"
KINDS = ["access", "id", "logout"]


@pytest.fixture
def verifier(realm) -> TokenVerifier:
    keys = JwksCache(jwks_uri=f"{ISSUER}/protocol/openid-connect/certs", fetch=realm.fetch)
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, keys=keys)


def claims_for(realm: Any, kind: str, **overrides: Any) -> dict[str, Any]:
    return {
        "access": realm.access_claims,
        "id": realm.id_claims,
        "logout": realm.logout_claims,
    }[kind](**overrides)


def verify(verifier: TokenVerifier, kind: str, token: str) -> dict[str, Any]:
    if kind == "access":
        return verifier.verify_access_token(token)
    if kind == "id":
        return verifier.verify_id_token(token, nonce=NONCE, client_id=CLIENT_ID)
    return verifier.verify_logout_token(token, client_id=CLIENT_ID)


# --- refusals common to every kind of token -----------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_valid_token_is_accepted(realm, verifier, kind):
    claims = verify(verifier, kind, realm.sign(claims_for(realm, kind)))
    assert claims["sub"] == "user-1"
    assert claims["iss"] == ISSUER


@pytest.mark.parametrize("kind", KINDS)
def test_signature_by_another_key_with_the_same_kid_is_refused(realm, verifier, kind):
    token = realm.sign(claims_for(realm, kind), key=realm.other_rsa_key, kid="rsa-1")
    with pytest.raises(errors.InvalidSignature):
        verify(verifier, kind, token)


@pytest.mark.parametrize("kind", KINDS)
def test_tampered_payload_is_refused(realm, verifier, kind):
    header, _, signature = realm.sign(claims_for(realm, kind)).split(".")
    forged = realm.sign(claims_for(realm, kind, sub="admin")).split(".")[1]
    good = realm.sign(claims_for(realm, kind))
    verify(verifier, kind, good)
    with pytest.raises(errors.InvalidSignature):
        verify(verifier, kind, f"{header}.{forged}.{signature}")


@pytest.mark.parametrize("kind", KINDS)
def test_alg_none_is_refused_before_any_key_lookup(realm, verifier, kind):
    with pytest.raises(errors.DisallowedAlgorithm):
        verify(verifier, kind, realm.unsigned(claims_for(realm, kind)))
    assert realm.fetches == 0


@pytest.mark.parametrize("kind", KINDS)
def test_hs256_keyed_with_the_rsa_public_key_is_refused(realm, verifier, kind):
    token = realm.hs256_with_public_pem(claims_for(realm, kind))
    with pytest.raises(errors.DisallowedAlgorithm):
        verify(verifier, kind, token)
    assert realm.fetches == 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("alg", ["RS512", "PS256", "ES256"])
def test_algorithms_outside_the_allowlist_are_refused(realm, verifier, make_jwk, kind, alg):
    key = realm.ec_key if alg == "ES256" else realm.rsa_key
    realm.jwks["keys"].append(make_jwk(key, "other-alg", alg=alg))
    token = realm.sign(claims_for(realm, kind), key=key, alg=alg, kid="other-alg")
    with pytest.raises(errors.DisallowedAlgorithm):
        verify(verifier, kind, token)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "iss", ["http://evil.test/realms/dash", f"{ISSUER}/", f"{ISSUER}-evil", "http://kc.test"]
)
def test_wrong_issuer_is_refused(realm, verifier, kind, iss):
    with pytest.raises(errors.InvalidIssuer) as info:
        verify(verifier, kind, realm.sign(claims_for(realm, kind, iss=iss)))
    assert str(info.value) == "wrong issuer"


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_audience_is_refused(realm, verifier, kind):
    token = realm.sign(claims_for(realm, kind, aud=["someone-else", "account"]))
    with pytest.raises(errors.InvalidAudience):
        verify(verifier, kind, token)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("claim", ["iat", "iss", "aud"])
def test_missing_required_claim_is_refused(realm, verifier, kind, claim):
    with pytest.raises(errors.MissingClaim) as info:
        verify(verifier, kind, realm.sign(claims_for(realm, kind, **{claim: None})))
    assert info.value.claim == claim


@pytest.mark.parametrize("kind", ["access", "id"])
@pytest.mark.parametrize("claim", ["sub", "exp"])
def test_missing_sub_or_exp_is_refused(realm, verifier, kind, claim):
    with pytest.raises(errors.MissingClaim) as info:
        verify(verifier, kind, realm.sign(claims_for(realm, kind, **{claim: None})))
    assert info.value.claim == claim


@pytest.mark.parametrize("kind", KINDS)
def test_expired_token_is_refused(realm, verifier, kind):
    now = int(time.time())
    token = realm.sign(claims_for(realm, kind, iat=now - 600, exp=now - 31))
    with pytest.raises(errors.TokenExpired) as info:
        verify(verifier, kind, token)
    assert str(info.value) == "token expired"


@pytest.mark.parametrize("kind", KINDS)
def test_expiry_within_the_leeway_is_tolerated(realm, verifier, kind):
    now = int(time.time())
    token = realm.sign(claims_for(realm, kind, iat=now - 600, exp=now - 10))
    assert verify(verifier, kind, token)["sub"] == "user-1"


@pytest.mark.parametrize("kind", KINDS)
def test_token_issued_in_the_future_is_refused(realm, verifier, kind):
    now = int(time.time())
    token = realm.sign(claims_for(realm, kind, iat=now + 120, exp=now + 600))
    with pytest.raises(errors.TokenNotYetValid):
        verify(verifier, kind, token)


@pytest.mark.parametrize("kind", KINDS)
def test_token_without_kid_is_refused(realm, verifier, kind):
    with pytest.raises(errors.MalformedToken, match="key id"):
        verify(verifier, kind, realm.sign(claims_for(realm, kind), kid=None))


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_kid_is_refused(realm, verifier, kind):
    token = realm.sign(claims_for(realm, kind), kid="not-published")
    with pytest.raises(UnknownKeyError):
        verify(verifier, kind, token)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 70_000])
def test_garbage_is_refused_as_malformed(verifier, kind, token):
    with pytest.raises(errors.MalformedToken):
        verify(verifier, kind, token)


def test_embedded_jwk_header_is_never_trusted(realm, verifier, make_jwk):
    attacker_jwk = make_jwk(realm.other_rsa_key, "rsa-1")
    token = realm.sign(
        realm.access_claims(),
        key=realm.other_rsa_key,
        headers={"jwk": attacker_jwk, "jku": "http://evil.test/certs"},
    )
    with pytest.raises(errors.InvalidSignature):
        verifier.verify_access_token(token)


def test_critical_header_extensions_are_refused(realm, verifier):
    token = realm.sign(realm.access_claims(), headers={"crit": ["exp"], "exp": 1})
    with pytest.raises(errors.MalformedToken):
        verifier.verify_access_token(token)


@pytest.mark.parametrize(("claim", "value"), [("exp", "9999999999"), ("iat", True), ("iat", "1")])
def test_non_numeric_dates_are_refused(realm, verifier, claim, value):
    with pytest.raises(errors.InvalidClaim) as info:
        verifier.verify_access_token(realm.sign(realm.access_claims(**{claim: value})))
    assert info.value.claim == claim


def test_error_messages_do_not_echo_the_token(realm, verifier):
    token = realm.sign(realm.access_claims(iss="http://evil.test/<script>"))
    with pytest.raises(TokenError) as info:
        verifier.verify_access_token(token)
    assert "evil" not in str(info.value) and token[:20] not in str(info.value)


def test_es256_is_accepted_when_allowed(realm, make_jwk):
    realm.jwks["keys"].append(make_jwk(realm.ec_key, "ec-1"))
    keys = JwksCache(jwks_uri="http://kc.test/certs", fetch=realm.fetch)
    verifier = TokenVerifier(
        issuer=ISSUER, audience=AUDIENCE, keys=keys, algorithms=("RS256", "ES256")
    )
    token = realm.sign(realm.access_claims(), key=realm.ec_key, alg="ES256", kid="ec-1")
    assert verifier.verify_access_token(token)["sub"] == "user-1"
    rsa_token_naming_the_ec_key = realm.sign(realm.access_claims(), kid="ec-1")
    with pytest.raises(UnknownKeyError):
        verifier.verify_access_token(rsa_token_naming_the_ec_key)


@pytest.mark.parametrize("algorithms", [("HS256",), ("none",), ("RS256", "HS512"), ()])
def test_verifier_refuses_unsafe_algorithm_allowlists(realm, algorithms):
    keys = JwksCache(jwks_uri="http://kc.test/certs", fetch=realm.fetch)
    with pytest.raises(ValueError):
        TokenVerifier(issuer=ISSUER, audience=AUDIENCE, keys=keys, algorithms=algorithms)


def test_rotated_key_is_accepted_after_one_refetch(realm, verifier, make_jwk):
    verifier.verify_access_token(realm.sign(realm.access_claims()))
    verifier._keys._attempted_at -= 60  # the rate-limit window has passed
    realm.jwks = {"keys": [make_jwk(realm.other_rsa_key, "rsa-2")]}
    token = realm.sign(realm.access_claims(), key=realm.other_rsa_key, kid="rsa-2")
    assert verifier.verify_access_token(token)["sub"] == "user-1"
    assert realm.fetches == 2


# --- access tokens --------------------------------------------------------------------


@pytest.mark.parametrize("typ", ["ID", "Refresh", "Logout"])
def test_other_token_types_are_refused_as_bearer_tokens(realm, verifier, typ):
    token = realm.sign(realm.access_claims(typ=typ))
    with pytest.raises(errors.InvalidTokenType):
        verifier.verify_access_token(token)


def test_id_token_presented_as_access_token_is_refused(realm, verifier):
    id_token = realm.sign(realm.id_claims(aud=[CLIENT_ID, AUDIENCE]))
    with pytest.raises(errors.InvalidTokenType):
        verifier.verify_access_token(id_token)


def test_logout_typed_header_is_refused_as_bearer_token(realm, verifier):
    token = realm.sign(realm.access_claims(), headers={"typ": "logout+jwt"})
    with pytest.raises(errors.InvalidTokenType):
        verifier.verify_access_token(token)


def test_access_token_without_typ_is_accepted(realm, verifier):
    token = realm.sign(realm.access_claims(typ=None))
    assert verifier.verify_access_token(token)["preferred_username"] == "alice"


def test_access_token_with_empty_sub_is_refused(realm, verifier):
    with pytest.raises(errors.InvalidClaim):
        verifier.verify_access_token(realm.sign(realm.access_claims(sub="")))


# --- ID tokens ------------------------------------------------------------------------


def test_id_token_with_another_nonce_is_refused(realm, verifier):
    token = realm.sign(realm.id_claims(nonce="attacker-nonce"))
    with pytest.raises(errors.InvalidNonce):
        verifier.verify_id_token(token, nonce=NONCE, client_id=CLIENT_ID)


def test_id_token_without_nonce_is_refused(realm, verifier):
    token = realm.sign(realm.id_claims(nonce=None))
    with pytest.raises(errors.InvalidNonce):
        verifier.verify_id_token(token, nonce=NONCE, client_id=CLIENT_ID)


def test_id_token_is_refused_when_no_nonce_was_expected(realm, verifier):
    token = realm.sign(realm.id_claims(nonce=""))
    with pytest.raises(errors.InvalidNonce):
        verifier.verify_id_token(token, nonce="", client_id=CLIENT_ID)


def test_id_token_with_non_ascii_nonce_is_refused_not_crashing(realm, verifier):
    token = realm.sign(realm.id_claims(nonce="nöñce"))
    with pytest.raises(errors.InvalidNonce):
        verifier.verify_id_token(token, nonce=NONCE, client_id=CLIENT_ID)


def test_id_token_for_another_client_is_refused(realm, verifier):
    token = realm.sign(realm.id_claims(aud="other-client", azp="other-client"))
    with pytest.raises(errors.InvalidAudience):
        verifier.verify_id_token(token, nonce=NONCE, client_id=CLIENT_ID)


def test_id_token_with_azp_mismatch_is_refused(realm, verifier):
    token = realm.sign(realm.id_claims(aud=[CLIENT_ID, "other"], azp="other"))
    with pytest.raises(errors.InvalidAuthorizedParty):
        verifier.verify_id_token(token, nonce=NONCE, client_id=CLIENT_ID)


def test_id_token_with_several_audiences_needs_azp(realm, verifier):
    token = realm.sign(realm.id_claims(aud=[CLIENT_ID, "other"], azp=None))
    with pytest.raises(errors.InvalidAuthorizedParty):
        verifier.verify_id_token(token, nonce=NONCE, client_id=CLIENT_ID)
    good = realm.sign(realm.id_claims(aud=[CLIENT_ID, "other"]))
    assert verifier.verify_id_token(good, nonce=NONCE, client_id=CLIENT_ID)["azp"] == CLIENT_ID


def test_id_token_with_single_audience_needs_no_azp(realm, verifier):
    token = realm.sign(realm.id_claims(azp=None))
    claims = verifier.verify_id_token(token, nonce=NONCE, client_id=CLIENT_ID)
    assert claims["sid"] == "session-1"


def test_access_token_presented_as_id_token_is_refused(realm, verifier):
    token = realm.sign(realm.id_claims(typ="Bearer"))
    with pytest.raises(errors.InvalidTokenType):
        verifier.verify_id_token(token, nonce=NONCE, client_id=CLIENT_ID)


# --- back-channel logout tokens -------------------------------------------------------


def test_good_logout_token_returns_sid_and_sub(realm, verifier):
    claims = verifier.verify_logout_token(realm.sign(realm.logout_claims()), client_id=CLIENT_ID)
    assert (claims["sid"], claims["sub"]) == ("session-1", "user-1")


@pytest.mark.parametrize("missing", ["sub", "sid"])
def test_logout_token_with_only_sid_or_only_sub_is_accepted(realm, verifier, missing):
    token = realm.sign(realm.logout_claims(**{missing: None}))
    assert missing not in verifier.verify_logout_token(token, client_id=CLIENT_ID)


def test_logout_token_with_spec_typ_is_accepted(realm, verifier):
    token = realm.sign(realm.logout_claims(typ="logout+jwt"), headers={"typ": "logout+jwt"})
    assert verifier.verify_logout_token(token, client_id=CLIENT_ID)["typ"] == "logout+jwt"


@pytest.mark.parametrize(
    "overrides",
    [
        {"events": None},
        {"events": "backchannel-logout"},
        {"events": [BACKCHANNEL_LOGOUT_EVENT]},
        {"events": {"http://schemas.openid.net/event/other": {}}},
        {"events": {BACKCHANNEL_LOGOUT_EVENT: "yes"}},
        {"events": {BACKCHANNEL_LOGOUT_EVENT: None}},
        {"nonce": "n-1"},
        {"sub": None, "sid": None},
    ],
    ids=[
        "no-events",
        "events-not-object",
        "events-list",
        "no-logout-member",
        "member-not-object",
        "member-null",
        "with-nonce",
        "no-sub-no-sid",
    ],
)
def test_logout_token_rule_violations_are_refused(realm, verifier, overrides):
    token = realm.sign(realm.logout_claims(**overrides))
    with pytest.raises(errors.InvalidLogoutToken):
        verifier.verify_logout_token(token, client_id=CLIENT_ID)


def test_logout_token_without_jti_is_refused(realm, verifier):
    token = realm.sign(realm.logout_claims(jti=None))
    with pytest.raises(errors.MissingClaim) as info:
        verifier.verify_logout_token(token, client_id=CLIENT_ID)
    assert info.value.claim == "jti"


def test_replayed_logout_token_is_refused_the_second_time(realm, verifier):
    token = realm.sign(realm.logout_claims(jti="once"))
    verifier.verify_logout_token(token, client_id=CLIENT_ID)
    with pytest.raises(errors.ReplayedToken):
        verifier.verify_logout_token(token, client_id=CLIENT_ID)


def test_refused_logout_token_does_not_burn_its_jti(realm, verifier):
    bad = realm.sign(realm.logout_claims(jti="j-1", nonce="n"))
    with pytest.raises(errors.InvalidLogoutToken):
        verifier.verify_logout_token(bad, client_id=CLIENT_ID)
    good = realm.sign(realm.logout_claims(jti="j-1"))
    assert verifier.verify_logout_token(good, client_id=CLIENT_ID)["jti"] == "j-1"


@pytest.mark.parametrize("typ", ["ID", "Bearer"])
def test_other_tokens_are_refused_as_logout_tokens(realm, verifier, typ):
    token = realm.sign(realm.logout_claims(typ=typ))
    with pytest.raises(errors.InvalidTokenType):
        verifier.verify_logout_token(token, client_id=CLIENT_ID)


def test_id_token_is_refused_as_logout_token(realm, verifier):
    id_token = realm.sign(realm.id_claims(jti="j-id"))
    with pytest.raises((errors.InvalidTokenType, errors.InvalidLogoutToken)):
        verifier.verify_logout_token(id_token, client_id=CLIENT_ID)


def test_logout_token_without_exp_expires_after_max_age(realm, verifier):
    now = int(time.time())
    fresh = realm.sign(realm.logout_claims(exp=None, iat=now))
    assert verifier.verify_logout_token(fresh, client_id=CLIENT_ID)
    stale = realm.sign(realm.logout_claims(exp=None, iat=now - 400))
    with pytest.raises(errors.TokenExpired):
        verifier.verify_logout_token(stale, client_id=CLIENT_ID)


def test_logout_replay_check_uses_the_injected_store(realm):
    calls: list[tuple[str, float]] = []

    class Store:
        def add_if_new(self, jti: str, expires_at: float) -> bool:
            calls.append((jti, expires_at))
            return False

    assert isinstance(Store(), JtiStore)
    keys = JwksCache(jwks_uri="http://kc.test/certs", fetch=realm.fetch)
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, keys=keys, jti_store=Store())
    claims = realm.logout_claims(jti="shared")
    with pytest.raises(errors.ReplayedToken):
        verifier.verify_logout_token(realm.sign(claims), client_id=CLIENT_ID)
    assert calls == [("shared", claims["exp"] + 30)]


# --- MemoryJtiStore -------------------------------------------------------------------


def test_memory_jti_store_forgets_expired_entries(clock):
    store = MemoryJtiStore(clock=clock, purge_every=10)
    assert store.add_if_new("a", expires_at=clock.now + 5)
    assert not store.add_if_new("a", expires_at=clock.now + 5)
    clock.now += 11
    assert store.add_if_new("b", expires_at=clock.now + 5)
    assert len(store) == 1  # "a" was purged
    assert store.add_if_new("a", expires_at=clock.now + 5)


def test_memory_jti_store_admits_a_jti_once_across_threads():
    store = MemoryJtiStore()
    results: list[bool] = []
    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait()
        results.append(store.add_if_new("same", time.time() + 60))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1 and len(results) == 16


def test_confusion_token_is_a_well_formed_hs256_token(realm):
    """Sanity: the hand-built HS256 token really is the attack, well-formed."""
    token = realm.hs256_with_public_pem(realm.access_claims())
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == "user-1"
