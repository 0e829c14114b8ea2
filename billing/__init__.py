"""Plans, subscriptions, the Stripe gateway and webhooks, the credit ledger, invoices."""
