"""Audiences: tenants' contact lists, their contacts (fields, subscription, suppression read at
the time), and CSV imports streamed into them; what campaigns mail."""
