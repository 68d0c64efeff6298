"""Campaigns: a tenant's template mailed to the contacts of its lists, one message per contact,
through the same policy and spool as every other message (`gateway.compose.submit`).

Why a stage of its own: a campaign is made once (`launch.py`: the checks, the recipients
materialised) and then sent over minutes or hours by a leased periodic task (`sender.py`)
that paces itself under the tenant's limits and the spool, checks each recipient again when
its message is made, and survives a restart at any moment without mailing anyone twice. What
each message holds (the rendered template, its unsubscribe link and fields, the campaign's tag)
is `message.py`; the figures and their export are `export.py`."""
