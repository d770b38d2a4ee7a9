"""SQLAlchemy tables. Imported by Alembic for autogenerate and `alembic check`."""

from .accounts import User
from .after_sale import ResaleHold, ResaleListing, TicketTransfer
from .base import Base
from .catalog import Event, PriceTier, Section, Show, ShowSection, Venue, VenueSeat
from .door import DoorStaff
from .inventory import Hold, ShowSeat
from .orders import Notification, Order, OutboxMessage
from .payments import Payment, RevokedTicket, Ticket, WebhookEvent
from .refunds import OrderRefund, ShowCancellation
from .waitlist import WaitlistEntry

__all__ = ["Base", "User", "Venue", "Section", "VenueSeat", "Event", "Show", "PriceTier", "ShowSection",
           "ShowSeat", "Hold", "Order", "Notification", "OutboxMessage", "Payment", "Ticket", "WebhookEvent",
           "RevokedTicket", "DoorStaff", "OrderRefund", "ShowCancellation", "WaitlistEntry",
           "TicketTransfer", "ResaleListing", "ResaleHold"]
