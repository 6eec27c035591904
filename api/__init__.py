"""The HTTP API a business's own systems use (`/api/v1/`): keys per business, the endpoints
(django-ninja), idempotent POSTs and a per-key throttle kept in the database."""
