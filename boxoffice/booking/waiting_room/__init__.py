"""The virtual waiting room: queue tickets and positions (Redis or in process), the promoter, admission tokens."""
