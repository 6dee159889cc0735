"""Talking to lemlist: the HTTP client, its answers and export statuses, downloads, the shared rate
gate, campaign links.
"""
