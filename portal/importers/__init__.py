"""CSV importers for business records (the Northwind sample data: :mod:`portal.importers.northwind`)."""
