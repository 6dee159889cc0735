"""Foundations every other part uses: typed errors, time, ids, redaction, logging and metrics, AWS
error mapping, the URL judge.
"""
