"""Tenant webhooks: every event of a tenant's messages POSTed as signed JSON to its HTTPS URLs.

`schema.py` is the document they receive (version 1) and the event types; `urls.py` which URLs
may receive it; `client.py` one signed POST; `dispatcher.py` the queue: `enqueue` queues one
event for each enabled webhook of its tenant whose filter takes its type (SES events, and our
own open and click tracking, by `gateway.feedback.record`), and each worker process's
`Dispatcher` POSTs the due deliveries, retrying until `WEBHOOK_MAX_AGE`; `manage.py` adds a
webhook and sends it a test event. docs/webhooks.md is the receiver's side.
"""
