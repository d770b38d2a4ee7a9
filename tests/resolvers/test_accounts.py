"""signUp, logIn, viewer and bearer tokens through GraphQL."""

import time
import uuid

import jwt

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
