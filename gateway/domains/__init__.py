"""Sending domains: names as stored, the DNS records they need, what DNS really says, and their SES
identities."""
