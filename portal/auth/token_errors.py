"""The typed refusals of the token verifier, with fixed messages safe to show.

Every class derives from ``TokenError`` (defined with the key set in ``jwks``); the
messages never quote the token.
"""

from __future__ import annotations

from portal.auth.jwks import TokenError

__all__ = [
    "DisallowedAlgorithm",
    "InvalidAudience",
    "InvalidAuthorizedParty",
    "InvalidClaim",
    "InvalidIssuer",
    "InvalidLogoutToken",
    "InvalidNonce",
    "InvalidSignature",
    "InvalidTokenType",
    "MalformedToken",
    "MissingClaim",
    "ReplayedToken",
    "TokenExpired",
    "TokenNotYetValid",
    "TokenRevoked",
]


class MalformedToken(TokenError):
    """Not a well-formed signed JWT (bad encoding, no kid, unsupported header)."""

    default_message = "malformed token"


class DisallowedAlgorithm(TokenError):
    """The header's ``alg`` is not in the allowlist (``none``, HS*, or unexpected)."""

    default_message = "token algorithm not allowed"


class InvalidSignature(TokenError):
    """The signature does not verify with the realm's key."""

    default_message = "invalid token signature"


class InvalidIssuer(TokenError):
    """``iss`` is not exactly our realm."""

    default_message = "wrong issuer"


class InvalidAudience(TokenError):
    """``aud`` does not name us."""

    default_message = "wrong audience"


class InvalidAuthorizedParty(TokenError):
    """``azp`` names another client, or is missing where several audiences are."""

    default_message = "wrong authorized party"


class TokenExpired(TokenError):
    """``exp`` is past (beyond the leeway)."""

    default_message = "token expired"


class TokenNotYetValid(TokenError):
    """``iat`` or ``nbf`` lies in the future (beyond the leeway)."""

    default_message = "token not yet valid"


class MissingClaim(TokenError):
    """A required claim is absent; ``claim`` names it."""

    def __init__(self, claim: str) -> None:
        self.claim = claim
        super().__init__(f"token lacks the {claim!r} claim")


class InvalidClaim(TokenError):
    """A claim is present but of the wrong type or value; ``claim`` names it."""

    def __init__(self, claim: str, message: str | None = None) -> None:
        self.claim = claim
        super().__init__(message or f"token has an invalid {claim!r} claim")


class InvalidTokenType(TokenError):
    """The token is of another kind (e.g. an ID token offered as a bearer token)."""

    default_message = "wrong token type"


class InvalidNonce(TokenError):
    """The ID token's ``nonce`` is missing or is not the one this sign-in sent."""

    default_message = "nonce mismatch"


class InvalidLogoutToken(TokenError):
    """A logout token breaks a Back-Channel Logout rule (events, nonce, sub/sid)."""

    default_message = "invalid logout token"


class ReplayedToken(TokenError):
    """This ``jti`` was already accepted once."""

    default_message = "token already used"


class TokenRevoked(TokenError):
    """The user was signed out or disabled after this token's sign-in."""

    default_message = "the sign-in behind this token was revoked"
