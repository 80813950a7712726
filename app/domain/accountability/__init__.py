"""Accountability (SPEC §5-7): the audit trail and its verification, exports."""
