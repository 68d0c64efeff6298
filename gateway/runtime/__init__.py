"""The running process: its roles (SMTP, worker), the registry of periodic tasks, the change
bus that tells its caches and workers what changed, and its hold on the data folder."""
