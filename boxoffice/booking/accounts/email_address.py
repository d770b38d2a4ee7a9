"""What an e-mail address is, for accounts, transfers and mail: exactly one addr-spec, normalized.

Checked by email-validator (syntax only, no DNS): a bare `a,b@x` or `x<y>z@x` once passed a
"no @, no space" pattern and became several recipients, or someone else's, when smtplib read the
To: header. An address is kept in email-validator's normalized form (its local part composed, NFC;
its domain lower case and in Unicode, so `fan@xn--caf-dma.test` is `fan@café.test`): one mailbox
typed two ways made two accounts, and an offer to one spelling reached the other's look-alike.
Domains under .test are accepted (the demo's and the tests' accounts use them).
"""

from __future__ import annotations

from email_validator import EmailNotValidError, ValidatedEmail, validate_email

from ..errors import InvalidInput

MAX_LENGTH = 254  # RFC 5321's path limit less its angle brackets


def _validated(value: str) -> ValidatedEmail | None:
    if len(value) > MAX_LENGTH:
        return None
    try:
        return validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return None


def email_address(value: str, *, field: str = "email") -> str:
    """The address, normalized, or InvalidInput."""
    validated = _validated(value.strip())
    if validated is None:
        raise InvalidInput("That is not an e-mail address.", field=field)
    return str(validated.normalized)


def normalized_or_as_typed(value: str) -> str:
    """For looking an account up: the normalized form of a valid address, else the value as typed
    (an account made before addresses were checked as now still signs in)."""
    validated = _validated(value.strip())
    return value.strip() if validated is None else str(validated.normalized)


def mail_address(value: str) -> str | None:
    """Where mail to this account goes: its ASCII form where there is one (a Unicode domain in
    IDNA, which every mail server takes), else the Unicode address (SMTPUTF8); None when it is not
    one address at all (an account made before addresses were checked as now)."""
    validated = _validated(value)
    if validated is None:
        return None
    return str(validated.ascii_email or validated.normalized)
