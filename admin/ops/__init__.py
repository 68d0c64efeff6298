"""What people and API keys may do, checked and audited in one place: the panel's pages and the
JSON API's endpoints are thin wrappers over these operations (one module per resource)."""
