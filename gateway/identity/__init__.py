"""Who acts: tenants and SMTP credentials, panel users, API keys, and password hashes."""
