"""Orders: the item model, its business rules and the repository that writes the Orders table."""
