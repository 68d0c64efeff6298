"""Stage 1, intake: the SMTP listeners, AUTH, TLS, the relayed copy, and the spool that commits a
message before `250`."""
