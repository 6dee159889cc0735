"""What the stack remembers in DynamoDB: export records, pending requests, and their pages."""
