"""Import stations from CSV, XLSX or GeoJSON: every record is checked, then all or none is written.

Records are upserted by external_id; a station whose fields all match the file is not touched.
A dry run does the same checks and works out the same plan, and writes nothing.
"""

import csv
import hashlib
import json
import os
import zipfile
from itertools import zip_longest
from math import isfinite

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from .audit import apply_changes, create_many, to_json
from .datum import DATUMS, to_wgs84
from .db import db
from .districts import district_at
from .hours import parse_hours
from .models import AMENITIES, KINDS, STATUSES, Station

REQUIRED = ("external_id", "kind", "name", "lat", "lng")
TEXT_COLUMNS = ("external_id", "kind", "name", "address", "phone", "opening_hours", "status")
COLUMNS = (*TEXT_COLUMNS, "lat", "lng", *AMENITIES)
# Fields of our own API's GeoJSON that the importer works out itself, so a re-import may skip them.
DERIVED_PROPERTIES = (
    "id",
    "district",
    "open_now",
    "verified_at",
    "updated_at",
    "is_sample",
    "closed_reason",
    "closed_until",
    "open_reports",
)
AMENITY_WORDS = {
    **dict.fromkeys(("yes", "true", "1", "y", "是", "有"), True),
    **dict.fromkeys(("no", "false", "0", "n", "否", "无"), False),
    **dict.fromkeys(("", "unknown", "未知"), None),
}
_GEOJSON_PROPERTIES = (set(COLUMNS) - {"lat", "lng"}) | set(DERIVED_PROPERTIES)
_ID_BATCH = 500  # external_ids per IN (...) query, well under every backend's parameter limit
PROGRESS_EVERY = 10_000


def quiet(_text):
    """No progress shown."""


class ImportFailed(Exception):
    """Nothing was imported; `errors` lists every problem found, one line of text each.

    After a dry run, `plan` is what the good records alone would have done.
    """

    def __init__(self, errors, plan=None):
        super().__init__(f"{len(errors)} problem(s); nothing was imported")
        self.errors = list(errors)
        self.plan = plan


class ImportPlan(dict):
    """Counts by outcome ({"created": n, "updated": n, "unchanged": n}) and the changes behind them:
    `new_stations` (field dicts) and `changed_stations` ((station, {field: (before, after)}))."""

    def __init__(self):
        super().__init__(created=0, updated=0, unchanged=0)
        self.new_stations = []
        self.changed_stations = []

    def digest(self):
        """A fingerprint of every change: does a commit do what the preview showed?"""
        new = [sorted(fields.items()) for fields in self.new_stations]
        changed = [(s.external_id, sorted(diff.items())) for s, diff in self.changed_stations]
        return hashlib.sha256(to_json([new, changed]).encode()).hexdigest()


def import_stations(
    path, *, crs="wgs84", is_sample=False, dry_run=False, user=None, progress=quiet
):
    """Create or update the file's stations in one transaction; the ImportPlan it carried out.

    With dry_run, nothing is written and the plan tells what would be. Changes are audited as
    source "import", by `user` when an admin uploaded the file. `progress` is called with a line
    of text now and then (every PROGRESS_EVERY records checked or written).
    """
    if crs not in DATUMS:
        raise ValueError(f"crs must be one of {', '.join(DATUMS)}")
    label, errors, records = _read(path)
    progress(f"read {len(records):,} records")
    rows, good_rows, first_seen = [], [], {}
    for count, (number, values, problems) in enumerate(records, start=1):
        if count % PROGRESS_EVERY == 0:
            progress(f"checked {count:,} of {len(records):,} records")
        fields, value_problems = _check(values, crs=crs)
        problems += value_problems
        external_id = fields["external_id"]
        if external_id:
            first = first_seen.setdefault(external_id, number)
            if first != number:
                problems.append(f"external_id '{external_id}' is already used in {label} {first}")
        errors += [f"{label} {number}: {problem}" for problem in problems]
        rows.append(fields | {"is_sample": is_sample})
        if not problems:
            good_rows.append(rows[-1])
    if errors:
        raise ImportFailed(errors, plan=_plan(good_rows) if dry_run else None)
    plan = _plan(rows)
    progress("to create {created:,}, to update {updated:,}, unchanged {unchanged:,}".format(**plan))
    if not dry_run:
        _write(plan, user=user, progress=progress)
    return plan


def _read(path):
    """The record label ("row" or "feature"), file problems, and (number, values, problems)s."""
    extension = os.path.splitext(path)[1].lower()
    if extension == ".csv":
        return ("row", *_table(_csv_rows(path)))
    if extension == ".xlsx":
        return ("row", *_table(_sheet_rows(path)))
    if extension in (".geojson", ".json"):
        return ("feature", *_features(path))
    raise ImportFailed([f"unsupported file type '{extension}': use .csv, .xlsx, .geojson or .json"])


def _csv_rows(path):
    """All rows of a UTF-8 CSV file (a leading BOM, as Excel writes it, is dropped)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            return list(csv.reader(file))
    except UnicodeDecodeError:
        raise ImportFailed(["the CSV file is not UTF-8 (in Excel, save as 'CSV UTF-8')"]) from None
    except (OSError, csv.Error) as error:
        raise ImportFailed([f"cannot read the CSV file: {error}"]) from None


def _sheet_rows(path):
    """All rows of the first sheet of an XLSX workbook, as cell values."""
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, InvalidFileException) as error:
        raise ImportFailed([f"cannot read the XLSX file: {error}"]) from None
    try:
        return [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
    finally:
        workbook.close()


def _table(rows):
    """The header's problems and the records of a header row and data rows (CSV, XLSX)."""
    if not rows or not any(_text(cell) for cell in rows[0]):
        raise ImportFailed(["row 1: there is no header row"])
    header = [_text(cell) for cell in rows[0]]
    missing = [
        f"row 1: missing required column '{name}'" for name in REQUIRED if name not in header
    ]
    errors = [f"row 1: unknown column '{name}'" for name in header if name and name not in COLUMNS]
    if missing:
        raise ImportFailed(missing + errors)
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    errors += [f"row 1: column '{name}' appears more than once" for name in repeated]
    records = []
    for number, cells in enumerate(rows[1:], start=2):
        if not any(_text(cell) for cell in cells):
            continue  # blank lines, and the empty rows spreadsheets leave at the end
        extra = any(_text(cell) for cell in cells[len(header) :])
        problems = ["more cells than the header row has columns"] if extra else []
        pairs = zip_longest(header, cells[: len(header)])
        records.append((number, {name: cell for name, cell in pairs if name in COLUMNS}, problems))
    return errors, records


def _features(path):
    """No file-level problems, and the records of a FeatureCollection's Point features."""
    try:
        with open(path, encoding="utf-8-sig") as file:
            collection = json.load(file)
    except OSError as error:
        raise ImportFailed([f"cannot read the GeoJSON file: {error}"]) from None
    except ValueError as error:
        raise ImportFailed([f"the file is not valid UTF-8 JSON: {error}"]) from None
    features = collection.get("features") if isinstance(collection, dict) else None
    if not isinstance(features, list) or collection.get("type") != "FeatureCollection":
        raise ImportFailed(["the file is not a GeoJSON FeatureCollection"])
    records = []
    for number, feature in enumerate(features, start=1):
        feature = feature if isinstance(feature, dict) else {}
        values = _mapping(feature.get("properties"))
        values |= _mapping(values.pop("amenities", None))  # our API nests the amenities
        problems = [f"unknown property '{key}'" for key in values if key not in _GEOJSON_PROPERTIES]
        geometry = _mapping(feature.get("geometry"))
        coordinates = geometry.get("coordinates")
        if geometry.get("type") == "Point" and isinstance(coordinates, list) and coordinates:
            values["lng"], values["lat"] = (coordinates + [None])[:2]
        else:
            # No lat/lng in the record, so the coordinate checks stay quiet about it.
            problems.append("geometry must be a Point with [lng, lat] coordinates")
        records.append((number, values, problems))
    return [], records


def _mapping(value):
    """A JSON object as a new dict; anything else as an empty one."""
    return dict(value) if isinstance(value, dict) else {}


def _check(values, *, crs):
    """The station fields of one record's raw values, and its problems (text, column order)."""
    problems, fields = [], {}
    for column in TEXT_COLUMNS:
        text = _text(values.get(column))
        limit = Station.__table__.c[column].type.length
        if len(text) > limit:
            problems.append(f"{column} is longer than {limit} characters")
        fields[column] = text or None
    for column in ("external_id", "kind", "name"):
        if not fields[column]:
            problems.append(f"{column} is empty")
    if fields["kind"] and fields["kind"] not in KINDS:
        problems.append(f"kind '{fields['kind']}' is not one of {', '.join(KINDS)}")
    fields["status"] = fields["status"] or "open"
    if fields["status"] != "temporarily_closed":
        fields["closed_reason"] = fields["closed_until"] = None
    if fields["status"] not in STATUSES:
        problems.append(f"status '{fields['status']}' is not one of {', '.join(STATUSES)}")
    if fields["opening_hours"]:
        try:
            parse_hours(fields["opening_hours"])
        except ValueError as error:
            problems.append(f"opening_hours '{fields['opening_hours']}' {error}")
    if "lat" in values and "lng" in values:
        lat = _coordinate(values["lat"], "lat", 90, problems)
        lng = _coordinate(values["lng"], "lng", 180, problems)
        if lat is not None and lng is not None:
            fields["lat"], fields["lng"] = to_wgs84(crs, lat=lat, lng=lng)
            fields["district"] = district_at(lat=fields["lat"], lng=fields["lng"])
    for column in AMENITIES:
        value, word = values.get(column), _text(values.get(column))
        if isinstance(value, bool):
            fields[column] = value
        elif word.lower() in AMENITY_WORDS:
            fields[column] = AMENITY_WORDS[word.lower()]
        else:
            problems.append(f"{column} '{word}' is not yes, no or unknown (是/否/未知)")
    return fields, problems


def _coordinate(value, column, bound, problems):
    """A finite number within ±bound, or None after noting the problem."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        try:
            number = float(_text(value))
        except ValueError:
            number = None
    if number is not None and isfinite(number) and -bound <= number <= bound:
        return number
    if _text(value):
        problems.append(f"{column} '{_text(value)}' is not a number between -{bound} and {bound}")
    else:
        problems.append(f"{column} is empty")
    return None


def _text(value):
    """A cell as stripped text; spreadsheet numbers such as 1001.0 read as "1001"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _plan(rows):
    """What importing these rows would do: new stations, and each changed field of the others."""
    plan = ImportPlan()
    ids = [fields["external_id"] for fields in rows]
    existing = {}
    for start in range(0, len(ids), _ID_BATCH):
        batch = ids[start : start + _ID_BATCH]
        found = db.session.scalars(select(Station).where(Station.external_id.in_(batch)))
        existing.update((station.external_id, station) for station in found)
    for fields in rows:
        station = existing.get(fields["external_id"])
        if station is None:
            plan.new_stations.append(fields)
            plan["created"] += 1
            continue
        diff = {
            key: (getattr(station, key), value)
            for key, value in fields.items()
            if getattr(station, key) != value
        }
        if diff:
            plan.changed_stations.append((station, diff))
        plan["updated" if diff else "unchanged"] += 1
    return plan


def _write(plan, *, user, progress):
    """Carry out a plan in one transaction, every change audited."""
    try:
        for count, (station, diff) in enumerate(plan.changed_stations, start=1):
            # Only real changes, so updated_at moves only then.
            changes = {key: after for key, (_before, after) in diff.items()}
            apply_changes(station, changes, user=user, source="import")
            if count % PROGRESS_EVERY == 0:
                db.session.flush()
                progress(f"updated {count:,} of {len(plan.changed_stations):,} stations")
        db.session.flush()
        new = plan.new_stations
        for start in range(0, len(new), PROGRESS_EVERY):
            create_many(new[start : start + PROGRESS_EVERY], user=user, source="import")
            progress(f"created {min(start + PROGRESS_EVERY, len(new)):,} of {len(new):,} stations")
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise ImportFailed(["a station changed while importing; nothing was imported"]) from None
    except Exception:
        db.session.rollback()
        raise
