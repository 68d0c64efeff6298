"""`serve --dev` only: the SES emulator (moto) on loopback and the mailbox simulator."""
