"""What an e-mail address is, for accounts, transfers and mail: exactly one addr-spec.

Checked by email-validator (syntax only, no DNS): a bare `a,b@x` or `x<y>z@x` once passed a
"no @, no space" pattern and became several recipients, or someone else's, when smtplib read the
To: header. Domains under .test are accepted (the demo's and the tests' accounts use them).
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from ..errors import InvalidInput

MAX_LENGTH = 254  # RFC 5321's path limit less its angle brackets


def is_email_address(value: str) -> bool:
    if len(value) > MAX_LENGTH:
        return False
    try:
        validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return False
    return True


def email_address(value: str, *, field: str = "email") -> str:
    """The address without surrounding blanks, or InvalidInput."""
    email = value.strip()
    if not is_email_address(email):
        raise InvalidInput("That is not an e-mail address.", field=field)
    return email
