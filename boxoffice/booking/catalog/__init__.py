"""The catalog: venues and their seat geometry, events, shows and price tiers; what organizers create and fans browse."""
