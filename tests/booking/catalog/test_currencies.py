"""The currencies counted in whole units: one table, which the fan app's copy must match."""

from __future__ import annotations

import re
from pathlib import Path

from boxoffice.booking.catalog.currencies import ZERO_DECIMAL

FORMAT_TS = Path(__file__).parents[3] / "frontend-sample" / "src" / "format.ts"


def test_the_fan_app_counts_the_same_currencies_in_whole_units() -> None:
    """Its money() divided every amount by 100: a 5,000 JPY ticket read ¥50."""
    found = re.search(r"const ZERO_DECIMAL = new Set\(\[([^\]]*)\]\)", FORMAT_TS.read_text())
    assert found, "format.ts no longer lists its zero-decimal currencies"
    assert set(re.findall(r"'([A-Z]{3})'", found.group(1))) == set(ZERO_DECIMAL)
