"""The categories, where reports' callers have always found them; they live in
app/domain/categories.py, below both reports and hotspots (whose notices name them)."""

from app.domain.categories import CATEGORIES, PROBLEMS, check_category

__all__ = ["CATEGORIES", "PROBLEMS", "check_category"]
