"""SQLAlchemy tables. Imported by Alembic for autogenerate and `alembic check`."""

from .accounts import User
from .base import Base
from .catalog import Event, PriceTier, Section, Show, ShowSection, Venue, VenueSeat
from .inventory import Hold, ShowSeat
from .orders import Notification, Order, OutboxMessage
from .payments import Payment, RevokedTicket, Ticket, WebhookEvent

__all__ = ["Base", "User", "Venue", "Section", "VenueSeat", "Event", "Show", "PriceTier", "ShowSection",
           "ShowSeat", "Hold", "Order", "Notification", "OutboxMessage", "Payment", "Ticket", "WebhookEvent",
           "RevokedTicket"]
