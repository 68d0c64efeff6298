"""Open and click tracking and one-click unsubscribe for relayed messages."""
