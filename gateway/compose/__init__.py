"""Messages the gateway composes itself from their parts (the send API's `from`, `to`, `subject`,
`html`, attachments...; a tenant's template rendered with a contact's fields, its text part made
from the HTML, its HTML sanitised), then submits through the same policy and spool as SMTP.

Why a stage of its own: over SMTP the client brings a finished message and intake only adds a
`Received:` field; here the gateway builds the MIME (`mime.py`) and plays the SMTP session's part
(`submit.py`): the sender, the recipients, the limits and the size checked by the rules of
`gateway.policy` with the same named refusals, the message committed by `gateway.intake.spool`."""
