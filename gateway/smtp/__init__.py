"""The SMTP submission server (aiosmtpd on the application's event loop)."""
