"""signUp, logIn, viewer and bearer tokens through GraphQL."""

import time
import uuid

import jwt
import pytest

from boxoffice.booking.accounts.sign_in import create_user
from boxoffice.booking.errors import InvalidInput

SIGN_UP = """mutation($input: SignUpInput!) { signUp(input: $input) {
  __typename ... on AuthPayload { token user { id email name role } } ... on Rejected { code message field } } }"""
LOG_IN = """mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) {
  __typename ... on AuthPayload { token user { email role } } ... on Rejected { code message } } }"""
VIEWER = "{ viewer { id email name role } }"


def _email() -> str:
    return f"fan-{uuid.uuid4().hex[:8]}@example.test"


async def test_sign_up_then_log_in_and_viewer(api) -> None:
    email = _email()
    data = await api.gql(SIGN_UP, {"input": {"email": email, "password": "correct horse", "name": "Ana"}})
    payload = data["signUp"]
    assert payload["__typename"] == "AuthPayload" and payload["user"]["role"] == "FAN"
    viewer = (await api.gql(VIEWER, token=payload["token"]))["viewer"]
    assert viewer["email"] == email and viewer["name"] == "Ana"
    logged = (await api.gql(LOG_IN, {"e": email.upper(), "p": "correct horse"}))["logIn"]
    assert logged["__typename"] == "AuthPayload" and logged["user"]["email"] == email


async def test_email_taken_is_case_insensitive(api) -> None:
    email = _email()
    await api.gql(SIGN_UP, {"input": {"email": email, "password": "correct horse", "name": "A"}})
    again = (await api.gql(SIGN_UP, {"input": {"email": email.upper(), "password": "correct horse", "name": "B"}}))
    assert again["signUp"] == {"__typename": "Rejected", "code": "EMAIL_TAKEN", "message": again["signUp"]["message"],
                               "field": "email"}


async def test_bad_sign_up_input_is_rejected(api) -> None:
    for field, value in (("email", "not-an-email"), ("password", "short"), ("name", "   ")):
        good = {"email": _email(), "password": "correct horse", "name": "Ana"}
        good[field] = value
        result = (await api.gql(SIGN_UP, {"input": good}))["signUp"]
        assert result["code"] == "INVALID_INPUT" and result["field"] == field


async def test_an_address_is_one_address(api) -> None:
    """Each of these passed as an address; smtplib then mailed every address its To: header parsed
    to: `postmaster` and fan1@…, or someone else's fan@… for an account of "fan@…,(x)"."""
    for several in ("postmaster,fan1@probe.test", "fan@probe.test,(x)", "x<y>z@probe.test", "(c)fan@probe.test",
                    "a@b@probe.test", '"quoted"@probe.test', "fan@probe.test;other@probe.test"):
        with pytest.raises(InvalidInput) as refused:
            await create_user(api.services.engine, email=several, password="correct horse", name="Ana")
        assert refused.value.field == "email", several
    accepted = await create_user(api.services.engine, email=f"  zoë+{uuid.uuid4().hex[:8]}@probe.test ",
                                 password="correct horse", name="Zoë")
    assert accepted.email.startswith("zoë+") and accepted.email.endswith("@probe.test")


async def test_one_mailbox_typed_two_ways_is_one_account(api) -> None:
    """A composed and a decomposed "é", a Unicode and an IDNA domain: each made a second account,
    and a transfer to one spelling reached the other's."""
    from boxoffice.booking.accounts.sign_in import authenticate
    from boxoffice.booking.errors import EmailTaken

    tag = uuid.uuid4().hex[:8]
    composed = await create_user(api.services.engine, email=f"jos\u00e9{tag}@example.test", password="correct horse",
                                 name="José")
    unicode_domain = await create_user(api.services.engine, email=f"fan{tag}@caf\u00e9.test",
                                       password="correct horse", name="Fan")
    for twin in (f"jose\u0301{tag}@example.test", f"JOS\u00c9{tag}@Example.Test", f"fan{tag}@xn--caf-dma.test"):
        with pytest.raises(EmailTaken):
            await create_user(api.services.engine, email=twin, password="correct horse", name="Twin")
    for typed, user in ((f"jose\u0301{tag}@example.test", composed), (f"FAN{tag}@xn--caf-dma.test", unicode_domain)):
        assert (await authenticate(api.services.engine, email=typed, password="correct horse")).id == user.id


async def test_names_in_any_script_are_welcome_and_hidden_characters_are_not(api) -> None:
    """Through the domain (the API's sign-ups share one address's limit across the suite's tests)."""
    name = "Zoë Ångström · محمد الأمين · שרה כהן · 李小龙 🎉"
    user = await create_user(api.services.engine, email=_email(), password="correct horse", name=name)
    assert user.name == name
    for hidden in ("Ana\u202egnp.exe", "Ana\x07", "Ana\u2066Bo", "A\u0085na"):
        with pytest.raises(InvalidInput, match="control characters or direction overrides") as refused:
            await create_user(api.services.engine, email=_email(), password="correct horse", name=hidden)
        assert refused.value.field == "name"


async def test_wrong_password_and_unknown_email(api) -> None:
    email = _email()
    await api.gql(SIGN_UP, {"input": {"email": email, "password": "correct horse", "name": "A"}})
    for e, p in ((email, "wrong password"), (_email(), "correct horse")):
        result = (await api.gql(LOG_IN, {"e": e, "p": p}))["logIn"]
        assert result["__typename"] == "Rejected" and result["code"] == "INVALID_CREDENTIALS"


async def test_forged_and_expired_tokens_are_anonymous(api) -> None:
    token, user_id = await api.user()
    assert (await api.gql(VIEWER, token=token))["viewer"]["id"] == user_id
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = [
        jwt.encode({**claims, "role": "admin"}, "some other secret", algorithm="HS256"),
        jwt.encode(claims, None, algorithm="none"),  # alg: none
        token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),
        jwt.encode({**claims, "exp": int(time.time()) - 10}, api.services.settings.secret, algorithm="HS256"),
        jwt.encode({**claims, "typ": "admission"}, api.services.settings.secret, algorithm="HS256"),
        "not a token at all",
    ]
    for bad in forged:
        assert (await api.gql(VIEWER, token=bad))["viewer"] is None
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert unsigned.endswith(".")  # really an unsigned token


async def test_token_needs_bearer_scheme(api) -> None:
    token, _ = await api.user()
    response = await api.client.post("/graphql", json={"query": VIEWER}, headers={"Authorization": token})
    assert response.json()["data"]["viewer"] is None


async def test_log_in_attempts_are_rate_limited_with_a_retry_hint(api) -> None:
    email = _email()
    await api.gql(SIGN_UP, {"input": {"email": email, "password": "correct horse", "name": "A"}})
    q = """mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) {
      __typename ... on Rejected { code message retryAfterSeconds } } }"""
    codes = [(await api.gql(q, {"e": email, "p": "wrong guess"}))["logIn"] for _ in range(12)]
    limited = [c for c in codes if c["code"] == "RATE_LIMITED"]
    assert codes[0]["code"] == "INVALID_CREDENTIALS" and limited
    assert limited[0]["retryAfterSeconds"] > 0 and "try again" in limited[0]["message"].lower()
    # The right password is refused too while limited: guessing does not get faster.
    assert (await api.gql(q, {"e": email, "p": "correct horse"}))["logIn"]["code"] == "RATE_LIMITED"


WEAK_PASSWORDS = {
    "12345678": "characters",  # too short
    " " * 8: "characters",
    " " * 12: "only spaces",
    "\t \u00a0 \n  \u2003  ": "only spaces",
    "1234567890": "most common",
    "Password123": "most common",
    "qwerty uiop": "most common",
    "aaaaaaaaaaaa": "different characters",
    "x" * 257: "characters",  # too long
}


def test_the_password_policy_says_why() -> None:
    import pytest

    from boxoffice.booking.errors import InvalidInput
    from boxoffice.booking.accounts.passwords import check_password

    for password, reason in WEAK_PASSWORDS.items():
        with pytest.raises(InvalidInput, match=reason) as refused:
            check_password(password, email="ana@example.test")
        assert refused.value.field == "password"
    for password in ("anastasia.k@example.test", "ANASTASIA.K@example.test", "anastasia.k"):
        with pytest.raises(InvalidInput, match="e-mail"):
            check_password(password, email="anastasia.k@example.test")


async def test_weak_passwords_are_refused_over_graphql_and_nothing_is_stored(api) -> None:
    from sqlalchemy import text

    emails = [_email() for _ in range(4)]
    for email, password in zip(emails, ("12345678", " " * 12, "1234567890", None)):
        result = (await api.gql(SIGN_UP, {"input": {"email": email, "password": password or email.upper(),
                                                      "name": "Weak"}}))["signUp"]
        assert result["__typename"] == "Rejected" and result["code"] == "INVALID_INPUT", (password, result)
        assert result["field"] == "password" and result["message"], (password, result)
    async with api.services.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT count(*) FROM users WHERE lower(email) = ANY(:e)"),
                                     {"e": [e.lower() for e in emails]})).scalar()
    assert stored == 0


async def test_the_projects_own_passwords_pass_the_policy() -> None:
    """Tests, the demo and the e2e suite sign up with these: they must stay valid."""
    from boxoffice.booking.accounts.passwords import check_password
    from boxoffice.demo import FAN, ORGANIZER
    from support import FAN_PASSWORD, ORG_PASSWORD

    for password in (FAN_PASSWORD, ORG_PASSWORD, FAN[1], ORGANIZER[1], "correct horse", "e2e-password-123",
                     "organizer-pw", "live-password", "long-enough-pass", "bench-organizer-pass"):
        check_password(password, email="someone@example.test")


LOG_OUT = "mutation { logOut }"


async def _account(api) -> str:
    """A fan with the password "correct horse", made without signUp (its per-address limit is
    spent by the tests above)."""
    from boxoffice.booking.accounts.sign_in import create_user

    email = _email()
    await create_user(api.services.engine, email=email, password="correct horse", name="A")
    return email


async def _log_in(api, email: str, password: str = "correct horse") -> dict:
    return (await api.gql(LOG_IN, {"e": email, "p": password}))["logIn"]


async def test_log_out_ends_every_token_of_the_caller(api) -> None:
    email = await _account(api)
    tokens = [(await _log_in(api, email))["token"], (await _log_in(api, email))["token"]]
    other, _ = await api.user()
    for token in tokens:
        assert (await api.gql(VIEWER, token=token))["viewer"]["email"] == email
    assert (await api.gql(LOG_OUT, token=tokens[1]))["logOut"] is True
    for token in tokens:
        assert (await api.gql(VIEWER, token=token))["viewer"] is None
        assert (await api.gql(LOG_OUT, token=token))["logOut"] is False
    assert (await api.gql(VIEWER, token=other))["viewer"] is not None  # nobody else is signed out
    assert (await api.gql(LOG_OUT))["logOut"] is False  # anonymous: no session to end
    again = (await _log_in(api, email))["token"]
    assert (await api.gql(VIEWER, token=again))["viewer"]["email"] == email


async def test_a_password_or_role_change_ends_every_token(api) -> None:
    from boxoffice.booking.accounts import sign_in as accounts

    email = await _account(api)
    token = (await _log_in(api, email))["token"]
    user = await accounts.change_password(api.services.engine, email=email, password="brand new pass")
    await api.services.sessions.ended(user.id, user.token_version)
    assert (await api.gql(VIEWER, token=token))["viewer"] is None
    assert (await _log_in(api, email, "brand new pass"))["__typename"] == "AuthPayload"
    with_old = await accounts.authenticate(api.services.engine, email=email, password="brand new pass")
    assert with_old.token_version == user.token_version

    email = await _account(api)
    token = (await _log_in(api, email))["token"]
    user = await accounts.change_role(api.services.engine, email=email, role="organizer")
    await api.services.sessions.ended(user.id, user.token_version)
    assert (await api.gql(VIEWER, token=token))["viewer"] is None
    promoted = await _log_in(api, email)
    assert promoted["user"]["role"] == "ORGANIZER"
    assert (await api.gql(VIEWER, token=promoted["token"]))["viewer"]["role"] == "ORGANIZER"


async def test_a_weak_new_password_is_refused(api) -> None:
    import pytest

    from boxoffice.booking.accounts import sign_in as accounts
    from boxoffice.booking.errors import InvalidInput

    email = await _account(api)
    with pytest.raises(InvalidInput):
        await accounts.change_password(api.services.engine, email=email, password="1234567890")
    assert (await _log_in(api, email))["__typename"] == "AuthPayload"
