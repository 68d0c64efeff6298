"""Messages the gateway writes itself: tenants' templates rendered with a contact's fields,
their text part made from the HTML, their HTML sanitised, and the MIME message built. What is
composed here enters the pipeline like an SMTP message: policed, then spooled."""
