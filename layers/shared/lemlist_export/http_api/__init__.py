"""The HTTP API's part: bearer tokens, bodies, models, errors and views as callers see them."""
