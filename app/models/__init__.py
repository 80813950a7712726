"""ORM tables. Importing this package registers every table on `Base.metadata`."""

from app.models.base import Base
from app.models.grid import Cell
from app.models.people import Duty, Person, UserAccount
from app.models.sources import Source

__all__ = ["Base", "Cell", "Duty", "Person", "Source", "UserAccount"]
