"""After the sale: passing a ticket to a friend (transfers) and selling it back at face value (resale)."""
