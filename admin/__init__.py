"""Operator interfaces over the gateway: the command line, the HTTP app and the process runner."""
