"""Patrol reports (SPEC §4): intake with its flags, photos, GPS tracks, historical import."""
