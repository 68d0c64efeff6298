"""The running process: its roles (SMTP, worker), the registry of periodic tasks, and the change
bus that tells its caches and workers what changed."""
