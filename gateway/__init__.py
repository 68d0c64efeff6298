"""SES Gateway: the SMTP server, spool, delivery and the clients of external systems."""
