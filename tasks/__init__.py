"""Lambda tasks of the Backup Events workflow: one AWS Backup primitive per module."""
