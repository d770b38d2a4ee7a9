"""The currencies a show can be priced in: those Stripe charges in, with prices in their minor unit.

Prices are whole minor units ("cents") everywhere: what Stripe is asked to charge, the report, the
CSV and the ticket. Stripe counts most currencies in hundredths and the zero-decimal ones in whole
units, which is how boxoffice writes them. The three-decimal ones (BHD, JOD, KWD, OMR, TND) Stripe
counts in thousandths and charges only in multiples of ten of them, so they are refused rather than
priced and shown a factor of ten off. A code Stripe does not know (a typo such as "ZZZ") is refused
when the show is created, not when its first fan is declined. From Stripe's list of supported
currencies (docs.stripe.com/currencies).

A price (a ticket's, a resale listing's) is a charge of its own when one ticket is bought, so it is
at least Stripe's minimum charge in its currency (below it, every such checkout would be refused).
Stripe publishes those minimums for the currencies below, and asks the equivalent of USD 0.50 of
the others, which depends on the day's rate: those are not checked here. ISK is charged in whole
krónur though written in hundredths, so an ISK price is a multiple of 100.
"""

from __future__ import annotations

# Stripe's zero-decimal currencies: the amount is in whole units.
ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND",
                          "VUV", "XAF", "XOF", "XPF"})
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
TWO_DECIMAL = frozenset("""
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BWP BYN BZD CAD CDF CHF CNY
    COP CRC CVE CZK DKK DOP DZD EGP ETB EUR FJD FKP GBP GEL GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR ISK
    JMD KES KGS KHR KYD KZT LAK LBP LKR LRD LSL MAD MDL MKD MMK MNT MOP MUR MVR MWK MXN MYR MZN NAD NGN NIO
    NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SEK SGD SHP SLE SOS SRD STD SZL THB TJS
    TOP TRY TTD TWD TZS UAH USD UYU UZS WST XCD YER ZAR ZMW""".split())
PRICED = ZERO_DECIMAL | TWO_DECIMAL
# Stripe's minimum charge, in the minor unit, where it publishes one.
MINIMUM_CHARGE = {
    "USD": 50, "AED": 200, "AUD": 50, "BGN": 100, "BRL": 50, "CAD": 50, "CHF": 50, "CZK": 1500, "DKK": 250,
    "EUR": 50, "GBP": 30, "HKD": 400, "HUF": 17500, "INR": 50, "JPY": 50, "MXN": 1000, "MYR": 200, "NOK": 300,
    "NZD": 50, "PLN": 200, "RON": 200, "SEK": 300, "SGD": 50, "THB": 1000}
WHOLE_UNITS_IN_HUNDREDTHS = frozenset({"ISK"})


def why_not_priced(code: str) -> str | None:
    """Why a show cannot be priced in this currency code, or None when it can."""
    if code in PRICED:
        return None
    if code in THREE_DECIMAL:
        return f"{code} is counted in thousandths, which boxoffice does not price in yet; choose another currency."
    return "Currency is an ISO 4217 code that Stripe charges in, such as USD."


def why_not_chargeable(code: str, cents: int) -> str | None:
    """Why one ticket at this price could not be charged in this (priced) currency, or None."""
    least = MINIMUM_CHARGE.get(code, 1)
    if cents < least:
        return f"A price is at least {least} in {code}'s smallest unit, the least a card can be charged."
    if code in WHOLE_UNITS_IN_HUNDREDTHS and cents % 100:
        return f"{code} is charged in whole units: a price is a multiple of 100."
    return None
