"""The door's and the organizer's report types: CheckIn, SalesReport and its parts."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import Private

from ..booking.door.check_in import CheckInRecord
from ..booking.door.sales_report import SalesBucketRecord, SalesReportRecord, SectionSalesRecord, sales_timeline
from ..booking.errors import BookingError
from .big_int import BigInt
from .booking_types import Ticket
from .catalog_types import Info
from .field_errors import query_error


GROSS = "Takings of confirmed orders, in cents (the currency's smallest unit)."
REFUNDED = ("Paid back so far, in cents: refunds once Stripe has made them (not while they are owed) and "
            "resale payouts to sellers.")
CHARGED_BACK = ("Taken back by buyers' banks, in cents: orders whose payment was disputed and not won by the "
                "box office. Net takings are gross less refunded less charged back.")
# A sold-out stadium takes more cents than Int holds: these fields are kept for clients written
# against them, and answer an error past Int (graphql-core's, naming the value).
GROSS_INT = "Int cannot hold a stadium's takings (past 2,147,483,647 cents): use grossTotalCents."
REFUNDED_INT = "Int cannot hold a stadium's refunds (past 2,147,483,647 cents): use refundedTotalCents."


@strawberry.type
class CheckIn:
    ticket: Ticket
    place: str = strawberry.field(description="e.g. Orchestra, row C, seat 10 (or the GA section's name).")
    checked_in_at: datetime

    @classmethod
    def of(cls, r: CheckInRecord) -> CheckIn:
        return cls(ticket=Ticket(record=r.ticket, show=r.show), place=r.place, checked_in_at=r.checked_in_at)


@strawberry.type
class SectionSales:
    section_id: strawberry.ID
    name: str
    capacity: int
    sold: int
    checked_in: int
    gross_cents: int = strawberry.field(deprecation_reason=GROSS_INT)
    gross_total_cents: BigInt = strawberry.field(description=GROSS)  # type: ignore[valid-type]

    @classmethod
    def of(cls, r: SectionSalesRecord) -> SectionSales:
        return cls(section_id=strawberry.ID(str(r.section_id)), name=r.name, capacity=r.capacity, sold=r.sold,
                   checked_in=r.checked_in, gross_cents=r.gross_cents, gross_total_cents=BigInt(r.gross_cents))


@strawberry.type
class SalesBucket:
    start: datetime
    orders: int
    tickets: int
    gross_cents: int = strawberry.field(deprecation_reason=GROSS_INT)
    gross_total_cents: BigInt = strawberry.field(description=GROSS)  # type: ignore[valid-type]

    @classmethod
    def of(cls, r: SalesBucketRecord) -> SalesBucket:
        return cls(start=r.start, orders=r.orders, tickets=r.tickets, gross_cents=r.gross_cents,
                   gross_total_cents=BigInt(r.gross_cents))


@strawberry.type
class SalesReport:
    record: Private[SalesReportRecord]

    @strawberry.field
    def currency(self) -> str:
        return self.record.currency

    @strawberry.field
    def capacity(self) -> int:
        return self.record.capacity

    @strawberry.field
    def sold(self) -> int:
        return self.record.sold

    @strawberry.field
    def held(self) -> int:
        return self.record.held

    @strawberry.field
    def available(self) -> int:
        return self.record.available

    @strawberry.field
    def checked_in(self) -> int:
        return self.record.checked_in

    @strawberry.field(deprecation_reason=GROSS_INT)
    def gross_cents(self) -> int:
        return self.record.gross_cents

    @strawberry.field(deprecation_reason=REFUNDED_INT)
    def refunded_cents(self) -> int:
        return self.record.refunded_cents

    @strawberry.field(description=GROSS)
    def gross_total_cents(self) -> BigInt:  # type: ignore[valid-type]
        return BigInt(self.record.gross_cents)

    @strawberry.field(description=REFUNDED)
    def refunded_total_cents(self) -> BigInt:  # type: ignore[valid-type]
        return BigInt(self.record.refunded_cents)

    @strawberry.field(description=CHARGED_BACK)
    def charged_back_total_cents(self) -> BigInt:  # type: ignore[valid-type]
        return BigInt(self.record.charged_back_cents)

    @strawberry.field
    def by_section(self) -> list[SectionSales]:
        return [SectionSales.of(s) for s in self.record.by_section]

    @strawberry.field(description="Confirmed orders per time bucket, oldest first.")
    async def timeline(self, info: Info, bucket_seconds: int | None = 3600) -> list[SalesBucket]:
        try:
            buckets = await sales_timeline(info.context.browse_engine, self.record.show_id,
                                           3600 if bucket_seconds is None else bucket_seconds)
        except BookingError as err:
            raise query_error(err) from None
        return [SalesBucket.of(b) for b in buckets]
