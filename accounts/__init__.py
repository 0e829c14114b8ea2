"""Users, companies, operator organisations, roles and sign-in."""
