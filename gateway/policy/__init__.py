"""Stage 2, policy: may this session send this? Pure rules (`rules.py`), the facts they read
(`senders.py`) and per-tenant limits (`limits.py`)."""
