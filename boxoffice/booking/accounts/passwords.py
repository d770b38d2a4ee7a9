"""Which passwords an account may have: long enough, not blank, not a well-known one, not the e-mail.

NIST SP 800-63B's rules rather than composition rules: a minimum length, a blocklist of passwords
attackers try first, and nothing derived from the account itself. The blocklist only needs the
common passwords that pass the length rule (the rest are refused by length already).
"""

from __future__ import annotations

from ..errors import InvalidInput

MIN_LENGTH = 10
MAX_LENGTH = 256
# Different characters a password needs: "aaaaaaaaaa" and "1212121212" are not passwords.
MIN_DISTINCT = 4

# The most common passwords of 10+ characters in public breach corpora (lower case, compared
# after lower-casing and stripping spaces).
COMMON = frozenset("""
1234567890 0123456789 0987654321 1234512345 1111111111 0000000000 1q2w3e4r5t 1qaz2wsx3edc
qwertyuiop qwertyuiop1 qwerty1234 qwerty12345 qwerty123456 1234qwer 123456789a 123456789q 12345qwert
password1 password12 password123 password1234 password12345 passw0rd123 password! password1!
iloveyou12 iloveyou123 princess12 sunshine12 football12 football123 baseball12 superman12 welcome123
welcome1234 letmein123 letmein1234 abc1234567 abcdefghij abcd123456 a123456789 aa12345678 administrator
admin12345 admin123456 changeme123 trustno1234 monkey1234 dragon1234 michael123 whatever12 starwars12
computer12 internet12 football1 basketball basketball1 basketball12 chocolate1 chocolate12 christopher
jennifer12 jordan2323 liverpool1 liverpool12 manchester1 metallica1 pokemon123 q1w2e3r4t5 q1w2e3r4t5y6
asdfghjkl1 asdfghjkl; zxcvbnm123 zaq12wsxcde 1qazxsw23edc passwordpassword iloveyouiloveyou
""".split())


def check_password(password: str, *, email: str | None = None) -> None:
    """Raises InvalidInput (field "password") with the reason, for the person choosing it."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidInput(f"Passwords have {MIN_LENGTH} to {MAX_LENGTH} characters.", field="password")
    if not password.strip():
        raise InvalidInput("A password cannot be only spaces.", field="password")
    if len(set(password)) < MIN_DISTINCT:
        raise InvalidInput(f"A password needs at least {MIN_DISTINCT} different characters.", field="password")
    folded = "".join(password.lower().split())
    if folded in COMMON:
        raise InvalidInput("That password is one of the most common ones; choose another.", field="password")
    if email is not None:
        address = email.strip().lower()
        if folded in (address, address.split("@", 1)[0]):
            raise InvalidInput("A password cannot be the e-mail address.", field="password")
