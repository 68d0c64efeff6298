"""The running process: its roles (SMTP, worker), the registry of periodic tasks, and its hold on
the data folder."""
