"""The synthetic population: deterministic, valid NIKs and family cards, realistic spread."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict

import pytest
from pydantic import TypeAdapter

from contracts import PROVINCE_CODES, KkNumber, check_nik
from mocks import PROVINCES, REFERENCE_DATE, STATUSES, Citizen, Population

RELIGIONS = {"ISLAM", "KRISTEN", "KATHOLIK", "HINDU", "BUDHA", "KONGHUCU"}
MARITAL = {"BELUM KAWIN", "KAWIN", "CERAI HIDUP", "CERAI MATI"}


def test_same_seed_gives_identical_population() -> None:
    """Generating twice with one seed yields equal citizens in equal order."""
    assert Population.generate(seed=7, size=150).citizens == Population.generate(seed=7, size=150).citizens


def test_different_seeds_give_different_populations() -> None:
    """Another seed yields other people."""
    first = {c.nik for c in Population.generate(seed=1, size=100)}
    second = {c.nik for c in Population.generate(seed=2, size=100)}
    assert first != second


@pytest.mark.parametrize("size", [0, 1, 19, 400])
def test_size_is_exact(size: int) -> None:
    """The population has exactly the requested size, households cut at the end if needed."""
    assert len(Population.generate(size=size)) == size


def test_negative_size_is_rejected() -> None:
    """A negative size is a programming error."""
    with pytest.raises(ValueError, match="negative"):
        Population.generate(size=-1)


def test_every_nik_is_valid_unique_and_encodes_region_birth_date_and_sex(population: Population) -> None:
    """Each NIK passes check_nik and spells district, birth day (+40 for women), month, year and a serial."""
    niks = [c.nik for c in population]
    assert len(set(niks)) == len(niks)
    for c in population:
        assert check_nik(c.nik) == c.nik
        assert c.nik[:6] == c.district_code
        day = c.birth_date.day + (40 if c.sex == "PEREMPUAN" else 0)
        assert c.nik[6:12] == f"{day:02d}{c.birth_date:%m%y}"
        assert c.nik[12:] != "0000"


def test_family_cards_are_valid_and_shared_by_a_household(population: Population) -> None:
    """KK numbers validate, and everyone on one card shares its address and has exactly one head."""
    adapter = TypeAdapter(KkNumber)
    households: dict[str, list[Citizen]] = defaultdict(list)
    for c in population:
        adapter.validate_python(c.kk)
        households[c.kk].append(c)
    assert len(households) > 50
    for kk, members in households.items():
        assert len({(m.address, m.rt, m.rw, m.village_code) for m in members}) == 1
        assert kk[:6] == members[0].district_code
        # The head comes first, so even the household cut short at the end keeps one.
        assert [m.family_relation for m in members].count("KEPALA KELUARGA") == 1
        assert members[0].family_relation == "KEPALA KELUARGA"


def test_children_carry_their_parents_names(population: Population) -> None:
    """A child's father is the male head of the household; names link the family together."""
    by_kk: dict[str, list[Citizen]] = defaultdict(list)
    for c in population:
        by_kk[c.kk].append(c)
    checked = 0
    for members in by_kk.values():
        head = members[0]
        for child in (m for m in members if m.family_relation == "ANAK"):
            if head.sex == "LAKI-LAKI":
                assert child.father_name == head.full_name
                checked += 1
            assert child.marital_status == "BELUM KAWIN"
            assert child.birth_date > head.birth_date
    assert checked > 20


def test_bpjs_numbers_have_their_lengths_and_are_unique(population: Population) -> None:
    """Every citizen has a unique 13-digit BPJS card; KPJ numbers, where present, are unique 11 digits."""
    cards = [c.no_kartu for c in population]
    assert all(len(n) == 13 and n.isdigit() for n in cards)
    assert len(set(cards)) == len(cards)
    kpjs = [c.kpj for c in population if c.kpj is not None]
    assert kpjs and all(len(n) == 11 and n.isdigit() for n in kpjs)
    assert len(set(kpjs)) == len(kpjs)
    assert {c.bpjs_class for c in population} <= {1, 2, 3}


def test_special_statuses_are_a_few_percent(population: Population) -> None:
    """Some citizens are deceased, inactive or duplicate, a few percent each; duplicates are active."""
    statuses = Counter(c.status for c in population)
    assert set(statuses) == set(STATUSES)
    for status in ("deceased", "inactive"):
        assert 1 <= statuses[status] <= 0.05 * len(population)
    duplicates = [c for c in population if c.duplicate]
    assert 1 <= len(duplicates) <= 0.05 * len(population)
    assert all(c.status == "active" for c in duplicates)


def test_small_populations_still_have_every_special_case() -> None:
    """From 20 people up, each special case occurs at least once, so tests can always find one."""
    small = Population.generate(seed=3, size=20)
    assert small.sample("deceased") and small.sample("inactive") and small.sample(duplicate=True)


def test_regions_span_the_archipelago_with_consistent_codes(population: Population) -> None:
    """At least twelve provinces appear, and every code nests in its parent and names its region."""
    assert len({c.province_code for c in population}) >= 12
    for c in population:
        assert c.province_code in PROVINCE_CODES
        assert PROVINCES[c.province_code] == c.province_name
        assert c.regency_code[:2] == c.province_code
        assert c.district_code[:4] == c.regency_code
        assert c.village_code[:6] == c.district_code and len(c.village_code) == 10
        assert c.regency_name.startswith(("KOTA ", "KAB. "))


def test_fields_use_dukcapil_vocabulary(population: Population) -> None:
    """Names and codes are upper case and drawn from Dukcapil's value lists."""
    for c in population:
        assert c.full_name == c.full_name.upper() and c.full_name.strip()
        assert c.sex in ("LAKI-LAKI", "PEREMPUAN")
        assert c.religion in RELIGIONS
        assert c.marital_status in MARITAL
        assert len(c.rt) == 3 and c.rt.isdigit() and len(c.rw) == 3 and c.rw.isdigit()
        assert c.birth_date < REFERENCE_DATE
    assert len({c.religion for c in population}) >= 4


def test_get_and_unknown_nik(population: Population, citizen: Citizen) -> None:
    """get finds by NIK; unknown_nik is valid yet absent."""
    assert population.get(citizen.nik) is citizen
    unknown = population.unknown_nik()
    assert check_nik(unknown) and population.get(unknown) is None and unknown not in population


def test_sample_filters_and_limits(population: Population) -> None:
    """sample honours status, duplicate and limit, in a stable order."""
    assert len(population.sample(limit=5)) == 5
    assert all(c.status == "deceased" for c in population.sample("deceased"))
    assert all(c.duplicate for c in population.sample(duplicate=True))
    assert population.sample("inactive", limit=3) == population.sample("inactive", limit=3)


def test_as_dict_holds_every_field_json_ready(citizen: Citizen) -> None:
    """as_dict carries every field, the birth date as ISO text."""
    data = citizen.as_dict()
    assert set(data) == {f.name for f in dataclasses.fields(Citizen)}
    assert data["birth_date"] == citizen.birth_date.isoformat()


def test_repeated_niks_are_refused(citizen: Citizen) -> None:
    """A population cannot hold two people with one NIK."""
    with pytest.raises(ValueError, match="repeated"):
        Population([citizen, citizen])
