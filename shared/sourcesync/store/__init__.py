"""Data access: small stores over DynamoDB, one per table, created through cached factories."""
