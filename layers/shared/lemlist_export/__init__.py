"""lemlist campaign-statistics exports into S3: the logic every function shares.

Handlers in `functions/` are thin adapters over these modules; nothing here knows an API
Gateway or Step Functions event shape.
"""
