"""The running process: its roles (SMTP, worker) and the registry of periodic tasks."""
