"""Telling people how an export ended: the announcement, Slack and webhook posts, their signatures,
callback URLs.
"""
