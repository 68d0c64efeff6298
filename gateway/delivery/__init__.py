"""Stage 3, delivery: workers that claim spooled messages and send them through SES, paced by the
account governor."""
