"""Scheduled runs: which campaigns a firing exports, and what happens when a firing fails."""
