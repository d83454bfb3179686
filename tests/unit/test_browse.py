"""spinegui.core.dataset.browse: facts, filters and sort keys, checked against expectations computed from the
index directly (no Qt)."""

import pytest

from spinegui.core.annotations.store import AnnotationStore
from spinegui.core.dataset import browse
from spinegui.core.dataset.browse import FilterSpec, filter_images, image_facts
from spinegui.core.dataset.vindr import LESION_TYPES, NO_FINDING, load_index
from spinegui.core.dataset.workspace import Workspace


@pytest.fixture(scope="module")
def index(demo_root):
    return load_index(demo_root)


@pytest.fixture
def store(index, demo_root, tmp_path):
    s = AnnotationStore(index, Workspace.for_dataset(demo_root, tmp_path / "ws"), reader="tester", autosave=False)
    yield s
    s.close()


def test_facts_from_the_index(index):
    for rec in index.images.values():
        f = image_facts(rec)
        assert set(f.labels) == rec.labels
        assert f.n_boxes == len(rec.boxes) and f.abnormal == rec.is_abnormal
        assert set(f.readers) == {r for r in rec.readers if r}
        assert (f.edited, f.verified) == (False, False)
        # Labels in the dataset's class order: the chips always read the same way.
        assert list(f.labels) == sorted(f.labels, key=(LESION_TYPES + (NO_FINDING,)).index)


def test_facts_from_the_store_follow_edits(index, store):
    normal = next(r for r in index.images.values() if not r.boxes)
    assert image_facts(normal, store).labels == (NO_FINDING,)
    store.add_box(normal.image_id, "Vertebral collapse", (10, 10, 60, 60))
    store.set_verified(normal.image_id)
    f = image_facts(normal, store)
    assert f.labels == ("Vertebral collapse",) and f.n_boxes == 1
    assert f.edited and f.verified and "tester" in f.readers


@pytest.mark.parametrize("lesion", LESION_TYPES + (NO_FINDING,))
def test_lesion_filter(index, lesion):
    expected = {r.image_id for r in index.images.values()
                if (lesion in {b.lesion_type for b in r.boxes}) or (lesion == NO_FINDING and not r.boxes)}
    assert expected, "the demo dataset has every class"
    assert set(filter_images(index, FilterSpec(lesion=lesion))) == expected


def test_split_finding_reader_filters(index):
    imgs = index.images.values()
    assert set(filter_images(index, FilterSpec(split="train"))) == {r.image_id for r in imgs if r.split == "train"}
    assert set(filter_images(index, FilterSpec(split="test"))) == {r.image_id for r in imgs if r.split == "test"}
    assert set(filter_images(index, FilterSpec(finding="normal"))) == {r.image_id for r in imgs if not r.boxes}
    assert set(filter_images(index, FilterSpec(finding="abnormal"))) == {r.image_id for r in imgs if r.boxes}
    assert set(filter_images(index, FilterSpec(reader="rad2"))) == {r.image_id for r in imgs if "rad2" in r.readers}
    # Filters combine with AND.
    both = FilterSpec(reader="rad1", finding="abnormal")
    assert set(filter_images(index, both)) == {r.image_id for r in imgs if "rad1" in r.readers and r.boxes}


def test_state_filters(index, store):
    ids = list(index.images)
    store.add_box(ids[0], "Osteophytes", (1, 1, 20, 20))
    store.set_verified(ids[1])
    assert filter_images(index, FilterSpec(state="edited"), store) == [ids[0], ids[1]]
    assert filter_images(index, FilterSpec(state="verified"), store) == [ids[1]]
    assert len(filter_images(index, FilterSpec(state="unedited"), store)) == len(ids) - 2
    assert len(filter_images(index, FilterSpec(state="unverified"), store)) == len(ids) - 1
    # Without a store nothing is edited.
    assert filter_images(index, FilterSpec(state="edited")) == []


def test_search_matches_any_id_prefix_case_insensitively(index):
    rec = next(iter(index.images.values()))
    same_study = {r.image_id for r in index.images.values() if r.study_id == rec.study_id}
    assert set(filter_images(index, FilterSpec(search=rec.study_id[:6]))) >= same_study
    assert rec.image_id in filter_images(index, FilterSpec(search=rec.series_id[:8].upper()))
    assert filter_images(index, FilterSpec(search=f"  {rec.image_id}  ")) == [rec.image_id]
    # A prefix, not a substring.
    assert rec.image_id not in filter_images(index, FilterSpec(search=rec.image_id[3:12]))
    assert filter_images(index, FilterSpec(search="zzzz")) == []


def test_spec_rejects_unknown_values_and_knows_when_empty():
    with pytest.raises(ValueError, match="lesion"):
        FilterSpec(lesion="Osteophyte")
    with pytest.raises(ValueError, match="state"):
        FilterSpec(state="done")
    assert FilterSpec().is_empty and FilterSpec(search="   ").is_empty
    assert not FilterSpec(split="train").is_empty and not FilterSpec(search="ab").is_empty


def test_sort_keys(index):
    facts = [image_facts(r) for r in index.images.values()]
    by_boxes = sorted(facts, key=lambda f: browse.image_sort_key("boxes", f))
    assert [f.n_boxes for f in by_boxes] == sorted(f.n_boxes for f in facts)
    by_lesion = sorted(facts, key=lambda f: browse.image_sort_key("lesions", f))
    assert by_lesion[-1].labels == (NO_FINDING,) and by_lesion[0].labels[0] == LESION_TYPES[0]
    study = [f for f in facts if f.study_id == facts[0].study_id]
    assert browse.study_sort_key("boxes", facts[0].study_id, study) == sum(f.n_boxes for f in study)
    with pytest.raises(ValueError):
        browse.image_sort_key("colour", facts[0])


def test_all_readers(index, store):
    expected = sorted({r for rec in index.images.values() for r in rec.readers if r})
    assert browse.all_readers(index) == expected
    assert browse.all_readers(index, store) == sorted(set(expected) | {"tester"})
