"""GET /api/v1/grid/defects — partition defects (SPEC §2) as GeoJSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from app.api.deps import require_roles
from app.db import ReadSessionDep
from app.domain.grid.defects import as_feature_collection, partition_defects
from app.domain.people.scope import Viewer, visible_cell
from app.models import Cell

router = APIRouter(prefix="/api/v1/grid", tags=["grid"])

GridReader = Annotated[
    Viewer, Depends(require_roles("supervisor", "command", "discipline", "admin"))
]


@router.get("/defects")
def defects(
    session: ReadSessionDep,
    viewer: GridReader,
    within: Annotated[str | None, Query(description="a cell code: only its subtree")] = None,
) -> dict[str, Any]:
    scope_root = within
    if within is None and viewer.scope_cell_id is not None and viewer.role != "admin":
        scope_root = session.get_one(Cell, viewer.scope_cell_id).code
    if scope_root is not None:
        visible_cell(session, viewer, scope_root)  # out of scope answers as missing: 404
    return as_feature_collection(partition_defects(session, scope_root))
