"""The steps of an export, as the state machine runs them: launch, start, check, copy, finish, and
their waits.
"""
