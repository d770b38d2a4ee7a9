"""The organizer's night: door staff, checking tickets in, and the show's sales figures."""
