"""Find an export by its file's SHA-256: `gridwatch verify-export FILE` and POST
/api/v1/exports/verify look the hash up among the export entries of the audit log.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-12 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_audit_log_export_sha256 ON audit_log "
        "((after ->> 'sha256')) WHERE action LIKE 'export.%'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_audit_log_export_sha256")
