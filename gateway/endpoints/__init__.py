"""The data plane's HTTP endpoints: SNS events, tracking links, metrics and health; and the one
JSON error shape."""
