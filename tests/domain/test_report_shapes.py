"""Report fields travel by name: the request body becomes the intake's data, and a stored
report (or one intake just inserted) becomes the answer, without a hand-written copy of each
field. These checks name the field that would break that."""

from dataclasses import fields

from app.domain.reports.intake import ReportData
from app.domain.reports.queries import NewReport
from app.domain.reports.tracks import TrackData
from app.models import Patrol, Photo, Report
from app.schemas.reports import PhotoOut, ReportIn, ReportOut, TrackIn, TrackOut


def test_a_report_body_is_the_intakes_data() -> None:
    assert set(ReportIn.model_fields) == {f.name for f in fields(ReportData)}


def test_a_track_body_is_the_track_data_but_for_its_geometry() -> None:
    assert set(TrackIn.model_fields) - {"track"} == {f.name for f in fields(TrackData)} - {
        "coordinates"
    }


def test_a_report_answer_reads_its_own_fields_from_the_row() -> None:
    own = set(ReportOut.model_fields) - {"cell_code", "reporter", "photos"}
    assert own <= set(Report.__table__.columns.keys())
    assert own <= {f.name for f in fields(NewReport)}


def test_photo_and_track_answers_read_their_own_fields_from_the_row() -> None:
    photo = set(PhotoOut.model_fields) - {"report_flags", "report_counted", "url", "display_url"}
    assert photo <= set(Photo.__table__.columns.keys())
    assert set(TrackOut.model_fields) - {"cells"} <= set(Patrol.__table__.columns.keys())
