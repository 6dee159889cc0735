"""Putting bytes into S3: the verified, streaming upload."""
