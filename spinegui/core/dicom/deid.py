"""De-identification of derived DICOM headers: DICOM PS3.15 Annex E, the Basic Application Level
Confidentiality Profile, applied with dicom-anonymizer's copy of the standard's Table E.1-1.

    deidentify(ds)                        # in place: every Table E.1-1 attribute, private tags, nested too
    ...                                   # then the caller writes its own marks and provenance
    mark_deidentified(ds, retain_uids=True)

Where the table leaves a choice (X/Z, X/D, Z/D, X/Z/D) the attribute is removed if X is allowed,
else emptied if Z is: a derived file keeps the least the profile allows. D attributes get the
library's dummy values. With ``retain_uids`` (the Retain UIDs Option, 113110) UIDs are kept: the
derived file names its source study and image, which is its provenance. Every replacement is
deterministic, so the same source gives the same bytes.
"""

from __future__ import annotations

from functools import lru_cache

TABLE = "dicomfields_2026c"  # the newest Table E.1-1 the library ships
BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
RETAIN_UIDS = ("113110", "Retain UIDs Option")
# The two UIDs Table E.1-1 replaces even under the Retain UIDs Option.
_NOT_RETAINED = {(0x0400, 0x0100), (0x0040, 0xA124)}  # Digital Signature UID, UID


def _delete(ds, tag) -> None:
    if tag in ds:
        del ds[tag]


def _empty(ds, tag) -> None:
    elem = ds.get(tag)
    if elem is not None:
        elem.value = [] if elem.VR == "SQ" else None  # zero length, whatever the VR


def _keep(ds, tag) -> None:
    pass


def _replace(ds, tag) -> None:
    from dicomanonymizer.simpledicomanonymizer import replace

    try:
        replace(ds, tag)
    except NotImplementedError:  # a VR the library has no dummy for (OW, SV, ...): remove it instead
        _delete(ds, tag)


def _uid_values(elem) -> list:
    return [v for v in (elem.value if elem.VM > 1 else [elem.value]) if v is not None]


def _new_uid(ds, tag) -> None:
    from pydicom.uid import generate_uid

    elem = ds.get(tag)
    if elem is not None and elem.value:
        new = [generate_uid(None, entropy_srcs=[str(v)]) for v in _uid_values(elem)]  # no source digits
        elem.value = new if len(new) > 1 else new[0]


@lru_cache(maxsize=2)
def _rules(retain_uids: bool) -> tuple[dict, list]:
    """(gggg, eeee) -> action, and [((group, element, group mask, element mask), action)] for the
    table's repeating groups (curves 50xx, overlays 60xx)."""
    from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as t  # static: bundlers see it

    rules, ranges = {}, []
    for tags, action in (
        (t.D_TAGS, _replace),
        (t.Z_TAGS + t.Z_D_TAGS, _empty),
        (t.X_TAGS + t.X_Z_TAGS + t.X_D_TAGS + t.X_Z_D_TAGS, _delete),
        (t.X_Z_U_STAR_TAGS, _keep if retain_uids else _delete),  # kept sequences are cleaned item by item
        (t.U_TAGS, _keep if retain_uids else _new_uid),
    ):
        for tag in tags:
            if len(tag) == 2:
                rules[tuple(tag)] = action
            else:
                ranges.append((tuple(tag), action))
    for tag in _NOT_RETAINED:
        rules[tag] = _new_uid
    return rules, ranges


def deidentify(ds, retain_uids: bool = True) -> None:
    """Apply the Basic Profile to pydicom Dataset `ds` in place, into every sequence item, and remove
    private and command (group 0000) elements."""
    from dicomanonymizer import simpledicomanonymizer as lib

    added = _pin_uids(ds, lib.dictionary)
    try:
        _apply(ds, *_rules(retain_uids))
    finally:
        for uid in added:  # the library's UID map is module-wide: leave it as it was
            lib.dictionary.pop(uid, None)


def _apply(ds, rules: dict, ranges: list) -> None:
    # Driven by the dataset's elements, not the table's 650 rows: a few dozen look-ups per level.
    for tag in list(ds.keys()):
        if tag.is_private or tag.group == 0x0000:  # Table E.1-1: private attributes X; commands never belong
            del ds[tag]
            continue
        action = rules.get((tag.group, tag.element))
        if action is None:
            action = next((a for (g, e, gm, em), a in ranges
                           if tag.group & gm == g & gm and tag.element & em == e & em), None)
        if action is not None:
            action(ds, tag)
        elem = ds.get(tag)
        if elem is not None and elem.VR == "SQ":
            for item in elem.value or []:
                _apply(item, rules, ranges)


def _pin_uids(ds, mapping: dict) -> list[str]:
    """Give every UID the library might replace (inside a D sequence) a deterministic replacement:
    its own are random, and the same source must give the same bytes."""
    from pydicom.uid import generate_uid

    added = []
    for elem in ds.iterall():
        if elem.VR != "UI":
            continue
        for v in _uid_values(elem):
            if v not in mapping:
                mapping[v] = generate_uid(None, entropy_srcs=[str(v)])
                added.append(v)
    return added


def profile_keywords(actions: str = "XZ") -> tuple[str, ...]:
    """Keywords of the Table E.1-1 attributes this module removes or empties (`actions` "XZ"), or
    replaces ("D"), or keeps or replaces as UIDs ("U"); those pydicom knows."""
    from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as t
    from pydicom.datadict import keyword_for_tag

    groups = {"X": t.X_TAGS + t.X_Z_TAGS + t.X_D_TAGS + t.X_Z_D_TAGS, "Z": t.Z_TAGS + t.Z_D_TAGS,
              "D": t.D_TAGS, "U": t.U_TAGS + t.X_Z_U_STAR_TAGS}
    tags = [tag for a in actions for tag in groups[a] if len(tag) == 2]
    return tuple(k for k in (keyword_for_tag((g << 16) | e) for g, e in tags) if k)


def mark_deidentified(ds, retain_uids: bool, method: str = "") -> None:
    """PatientIdentityRemoved, DeidentificationMethod and its code sequence, saying what was done."""
    from importlib.metadata import PackageNotFoundError, version

    from pydicom.dataset import Dataset

    codes = [BASIC_PROFILE] + ([RETAIN_UIDS] if retain_uids else [])
    try:
        lib = f"dicom-anonymizer {version('dicom-anonymizer')}, table {TABLE[len('dicomfields_'):]}"
    except PackageNotFoundError:  # a bundle without the distribution's metadata
        lib = f"dicom-anonymizer, table {TABLE[len('dicomfields_'):]}"
    items = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        items.append(item)
    ds.PatientIdentityRemoved = "YES"
    # LO values: 64 characters at most each
    ds.DeidentificationMethod = [m for m in (method, *(meaning for _, meaning in codes), lib) if m]
    ds.DeidentificationMethodCodeSequence = items
