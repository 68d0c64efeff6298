"""Stage 2, policy: may this session send this? Pure rules (`rules.py`), the facts they read
(`senders.py`), per-tenant limits (`limits.py`) and the log of what they refused (`refusals.py`)."""
