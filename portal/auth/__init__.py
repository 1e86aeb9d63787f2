"""Users, roles, sign-in and permissions: models, services and views of this area."""
