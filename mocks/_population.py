"""A seeded, deterministic synthetic population shared by every agency mock.

Every agency mock answers about the same people, so a test can verify a NIK at Dukcapil and look up the same
person's BPJS card without stitching fixtures together. The population is generated household by household:
members share a family card (KK) and an address, children carry their parents' names as mother and father, and
each person's NIK encodes their district, birth date (women +40 on the day) and a serial that is never 0000.

Generation depends on the seed and size only, never on the clock: ages are taken at :data:`REFERENCE_DATE`, so
the same seed yields the same population on every machine and every day. Nobody here is a real person.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from contracts import check_nik

from ._names import GROUPS, Group, Sex, pick
from ._regions import PROVINCES, REGENCIES, District, Regency

__all__ = ["REFERENCE_DATE", "STATUSES", "Citizen", "Population", "Status"]

Status = Literal["active", "deceased", "inactive"]
STATUSES: tuple[Status, ...] = ("active", "deceased", "inactive")

REFERENCE_DATE = date(2026, 1, 1)
"""The day ages are computed at; fixed so that a seed means the same population forever."""

# Shares of the special cases; each is at least one person once the population has 20 or more.
_DECEASED_RATE = 0.03
_INACTIVE_RATE = 0.02
_DUPLICATE_RATE = 0.03

_STREETS = ("MERDEKA", "SUDIRMAN", "DIPONEGORO", "GAJAH MADA", "PAHLAWAN", "MELATI", "KENANGA", "ANGGREK",
            "CEMPAKA", "MAWAR", "FLAMBOYAN", "PEMUDA", "KARTINI", "AHMAD YANI", "VETERAN", "MAJAPAHIT", "TERATAI",
            "SILIWANGI", "HASANUDDIN", "PERINTIS KEMERDEKAAN", "SUKARAJA", "BERINGIN")
_BLOOD = (("A", 0.2), ("B", 0.2), ("AB", 0.05), ("O", 0.3), ("TIDAK TAHU", 0.25))
_ADULT_EDUCATION = (("TAMAT SD/SEDERAJAT", 0.15), ("SLTP/SEDERAJAT", 0.15), ("SLTA/SEDERAJAT", 0.4),
                    ("DIPLOMA I/II", 0.03), ("AKADEMI/DIPLOMA III/S. MUDA", 0.07), ("DIPLOMA IV/STRATA I", 0.17),
                    ("STRATA II", 0.03))
_ADULT_WORK = (("KARYAWAN SWASTA", 0.3), ("WIRASWASTA", 0.2), ("PEDAGANG", 0.08), ("PETANI/PEKEBUN", 0.06),
               ("BURUH HARIAN LEPAS", 0.08), ("PEGAWAI NEGERI SIPIL (PNS)", 0.06), ("GURU", 0.04),
               ("KARYAWAN BUMN", 0.03), ("SOPIR", 0.03), ("NELAYAN/PERIKANAN", 0.02), ("PERAWAT", 0.02),
               ("DOKTER", 0.01), ("TENTARA NASIONAL INDONESIA (TNI)", 0.01), ("KEPOLISIAN RI (POLRI)", 0.01),
               ("BELUM/TIDAK BEKERJA", 0.05))
# Wage earners enrolled with BPJS Ketenagakerjaan (a KPJ number); civil servants, soldiers and police are not.
_WAGE_WORK = frozenset({"KARYAWAN SWASTA", "KARYAWAN BUMN", "BURUH HARIAN LEPAS", "SOPIR", "PERAWAT", "GURU"})
_CLASS_ONE_WORK = frozenset({"PEGAWAI NEGERI SIPIL (PNS)", "TENTARA NASIONAL INDONESIA (TNI)",
                             "KEPOLISIAN RI (POLRI)", "KARYAWAN BUMN", "DOKTER"})


@dataclass(frozen=True, slots=True)
class Citizen:
    """One synthetic resident, with the fields Dukcapil holds plus the numbers other agencies key on."""

    nik: str
    kk: str
    full_name: str
    birth_place: str
    birth_date: date
    sex: Sex
    religion: str
    marital_status: str
    blood_type: str
    education: str
    occupation: str
    mother_name: str
    father_name: str
    family_relation: str
    address: str
    rt: str
    rw: str
    province_code: str
    province_name: str
    regency_code: str
    regency_name: str
    district_code: str
    district_name: str
    village_code: str
    village_name: str
    status: Status
    duplicate: bool
    no_kartu: str
    """13-digit BPJS Kesehatan card number (every resident is a JKN member here)."""
    kpj: str | None
    """11-digit BPJS Ketenagakerjaan membership number, for wage earners only."""
    bpjs_class: int
    """BPJS Kesehatan care class (1-3), shared by the household."""

    def age(self, on: date = REFERENCE_DATE) -> int:
        """Age in whole years on ``on``."""
        before_birthday = (on.month, on.day) < (self.birth_date.month, self.birth_date.day)
        return on.year - self.birth_date.year - before_birthday

    def as_dict(self) -> dict[str, object]:
        """Every field, JSON-ready (the birth date as ISO 8601)."""
        data = dataclasses.asdict(self)
        data["birth_date"] = self.birth_date.isoformat()
        return data


class Population:
    """An immutable set of citizens, indexed by NIK."""

    def __init__(self, citizens: Iterable[Citizen], *, seed: int | None = None) -> None:
        self._citizens = tuple(citizens)
        self._by_nik = {c.nik: c for c in self._citizens}
        if len(self._by_nik) != len(self._citizens):
            raise ValueError("population has repeated NIKs")
        self._seed = seed

    @classmethod
    def generate(cls, seed: int = 2026, size: int = 400) -> Population:
        """Generate ``size`` citizens; the same ``seed`` and ``size`` always give the same population."""
        if size < 0:
            raise ValueError("size must not be negative")
        return cls(_Generator(seed).citizens(size), seed=seed)

    @property
    def seed(self) -> int | None:
        """The seed the population was generated from, if it was."""
        return self._seed

    @property
    def citizens(self) -> tuple[Citizen, ...]:
        """Everyone, in generation order (households together)."""
        return self._citizens

    def get(self, nik: str) -> Citizen | None:
        """The citizen with this NIK, or ``None``."""
        return self._by_nik.get(nik)

    def sample(
        self,
        status: Status | None = None,
        *,
        duplicate: bool | None = None,
        limit: int = 20,
        min_age: int | None = None,
        max_age: int | None = None,
        member: bool | None = None,
    ) -> list[Citizen]:
        """Up to ``limit`` citizens matching the filters, in a stable order, so tests can pick a NIK.

        Ages are whole years on :data:`REFERENCE_DATE`, both bounds included; ``member`` filters on holding a
        BPJS Ketenagakerjaan KPJ.
        """
        found: list[Citizen] = []
        for citizen in self._citizens:
            if len(found) >= limit:
                break
            if status is not None and citizen.status != status:
                continue
            if duplicate is not None and citizen.duplicate != duplicate:
                continue
            if member is not None and (citizen.kpj is not None) != member:
                continue
            if (min_age is not None or max_age is not None) and not (
                (min_age or 0) <= citizen.age() <= (max_age if max_age is not None else 200)
            ):
                continue
            found.append(citizen)
        return found

    def unknown_nik(self) -> str:
        """A structurally valid NIK that belongs to nobody here (for "not found" cases); stable per population."""
        prefix = self._citizens[0].nik[:12] if self._citizens else "327302010190"
        for serial in range(9999, 0, -1):
            nik = f"{prefix}{serial:04d}"
            if nik not in self._by_nik:
                return nik
        raise LookupError("no free serial left")  # pragma: no cover - needs 9999 people born the same day

    def __len__(self) -> int:
        return len(self._citizens)

    def __iter__(self) -> Iterator[Citizen]:
        return iter(self._citizens)

    def __contains__(self, nik: object) -> bool:
        return nik in self._by_nik


@dataclass(frozen=True, slots=True)
class _Home:
    regency: Regency
    district: District
    village_index: int
    group: Group
    kk: str
    address: str
    rt: str
    rw: str
    bpjs_class: int
    religion: str


class _Generator:
    """Builds households with one ``random.Random``; every draw goes through it, in a fixed order."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._serials: dict[str, int] = {}
        self._cards: set[str] = set()
        self._kpjs: set[str] = set()
        self._regency_weights = [r.weight for r in REGENCIES]

    def citizens(self, size: int) -> list[Citizen]:
        people: list[Citizen] = []
        while len(people) < size:
            people.extend(self._household())
        del people[size:]
        return self._assign_statuses(people)

    def _assign_statuses(self, people: list[Citizen]) -> list[Citizen]:
        size = len(people)

        def count(rate: float) -> int:
            return max(1, round(size * rate)) if size >= 20 else round(size * rate)

        deceased, inactive, duplicate = count(_DECEASED_RATE), count(_INACTIVE_RATE), count(_DUPLICATE_RATE)
        chosen = self._rng.sample(range(size), deceased + inactive + duplicate)
        for i in chosen[:deceased]:
            people[i] = dataclasses.replace(people[i], status="deceased")
        for i in chosen[deceased : deceased + inactive]:
            people[i] = dataclasses.replace(people[i], status="inactive")
        for i in chosen[deceased + inactive :]:
            people[i] = dataclasses.replace(people[i], duplicate=True)
        return people

    def _date(self, first: date, last: date) -> date:
        return date.fromordinal(self._rng.randint(first.toordinal(), last.toordinal()))

    def _household(self) -> list[Citizen]:
        rng = self._rng
        regency = rng.choices(REGENCIES, self._regency_weights)[0]
        district = rng.choice(regency.districts)
        group = GROUPS[pick(rng, regency.groups)]
        clan = rng.choice(group.clan) if group.clan else None

        married = rng.random() < 0.85
        head_sex: Sex = "LAKI-LAKI" if married or rng.random() < 0.5 else "PEREMPUAN"
        head_birth = self._date(date(1950, 1, 1), date(2000, 12, 31))
        head_work = self._occupation(head_birth, head_sex, wife=False)
        home = _Home(
            regency=regency,
            district=district,
            village_index=rng.randrange(len(district.villages)),
            group=group,
            kk=self._kk(regency, district, head_birth),
            address=self._address(),
            rt=f"{rng.randint(1, 15):03d}",
            rw=f"{rng.randint(1, 12):03d}",
            bpjs_class=1 if head_work in _CLASS_ONE_WORK else rng.choice((2, 3, 3)),
            religion=group.religion(rng),
        )
        head_name = group.name(rng, head_sex, clan=clan)
        if married:
            head_status = "KAWIN"
        elif head_birth.year > 1993:
            head_status = "BELUM KAWIN"
        else:
            head_status = rng.choice(("CERAI HIDUP", "CERAI MATI", "BELUM KAWIN"))
        members = [self._person(home, head_name, head_sex, head_birth, head_status, "KEPALA KELUARGA",
                                father=group.name(rng, "LAKI-LAKI", clan=clan), mother=group.name(rng, "PEREMPUAN"),
                                occupation=head_work)]
        father, mother = (head_name, "") if head_sex == "LAKI-LAKI" else (group.name(rng, "LAKI-LAKI"), head_name)
        youngest_parent = head_birth
        if married:
            spouse_birth = min(head_birth + timedelta(days=rng.randint(-700, 2500)), date(2002, 12, 31))
            mother = group.name(rng, "PEREMPUAN")
            members.append(self._person(home, mother, "PEREMPUAN", spouse_birth, "KAWIN", "ISTRI",
                                        father=group.name(rng, "LAKI-LAKI"), mother=group.name(rng, "PEREMPUAN")))
            youngest_parent = max(head_birth, spouse_birth)
        if head_status != "BELUM KAWIN":
            first = date(youngest_parent.year + 20, 1, 1)
            last = min(date(youngest_parent.year + 40, 12, 31), REFERENCE_DATE - timedelta(days=30))
            for _ in range(rng.choices((0, 1, 2, 3), (0.2, 0.3, 0.3, 0.2))[0] if first <= last else 0):
                sex: Sex = rng.choice(("LAKI-LAKI", "PEREMPUAN"))
                name = group.name(rng, sex, clan=clan)
                members.append(self._person(home, name, sex, self._date(first, last), "BELUM KAWIN", "ANAK",
                                            father=father, mother=mother or group.name(rng, "PEREMPUAN")))
        return members

    def _person(
        self,
        home: _Home,
        name: str,
        sex: Sex,
        birth: date,
        marital: str,
        relation: str,
        *,
        father: str,
        mother: str,
        occupation: str | None = None,
    ) -> Citizen:
        rng = self._rng
        work = occupation or self._occupation(birth, sex, wife=relation == "ISTRI")
        native = relation == "ANAK" or rng.random() < 0.85
        place = home.regency.birth_place if native else rng.choice(REGENCIES).birth_place
        if place == "MAKASSAR" and 1971 <= birth.year < 1999:
            place = "UJUNG PANDANG"  # the city's name in those years; old records keep it
        district_code = home.regency.code + home.district.number
        village_number = f"{2 if home.district.desa else 1}{home.village_index + 1:03d}"
        kpj = None
        if work in _WAGE_WORK or (work in ("WIRASWASTA", "PEDAGANG") and rng.random() < 0.25):
            kpj = self._unique(self._kpjs, lambda: str(rng.randrange(10**10, 10**11)))
        return Citizen(
            nik=self._nik(district_code, birth, sex),
            kk=home.kk,
            full_name=name,
            birth_place=place,
            birth_date=birth,
            sex=sex,
            religion=home.religion,
            marital_status=marital,
            blood_type=pick(rng, _BLOOD),
            education=self._education(birth),
            occupation=work,
            mother_name=mother,
            father_name=father,
            family_relation=relation,
            address=home.address,
            rt=home.rt,
            rw=home.rw,
            province_code=home.regency.province_code,
            province_name=PROVINCES[home.regency.province_code],
            regency_code=home.regency.code,
            regency_name=home.regency.name,
            district_code=district_code,
            district_name=home.district.name,
            village_code=district_code + village_number,
            village_name=home.district.villages[home.village_index],
            status="active",
            duplicate=False,
            no_kartu=self._unique(self._cards, lambda: f"000{rng.randrange(10**9, 10**10)}"),
            kpj=kpj,
            bpjs_class=home.bpjs_class,
        )

    def _nik(self, district_code: str, birth: date, sex: Sex) -> str:
        day = birth.day + (40 if sex == "PEREMPUAN" else 0)
        prefix = f"{district_code}{day:02d}{birth.month:02d}{birth.year % 100:02d}"
        # Serials run up per district and birth date; starting a little above 1 keeps them from looking fixed.
        serial = self._serials[prefix] + 1 if prefix in self._serials else self._rng.randint(1, 40)
        self._serials[prefix] = serial
        return check_nik(f"{prefix}{serial:04d}")

    def _kk(self, regency: Regency, district: District, head_birth: date) -> str:
        # A KK number is the district, the card's issue date (ddmmyy) and a serial, like a NIK without the +40.
        issued = self._date(max(date(2004, 1, 1), date(head_birth.year + 20, 1, 1)), date(2025, 6, 30))
        prefix = f"{regency.code}{district.number}{issued:%d%m%y}"
        serial = self._serials.get("KK" + prefix, 0) + 1
        self._serials["KK" + prefix] = serial
        return f"{prefix}{serial:04d}"

    def _address(self) -> str:
        rng = self._rng
        street, number = rng.choice(_STREETS), rng.randint(1, 150)
        shape = rng.random()
        if shape < 0.6:
            return f"JL. {street} NO. {number}"
        if shape < 0.85:
            return f"GG. {street} NO. {number}"
        return f"KOMP. {street} BLOK {rng.choice('ABCDEF')} NO. {number}"

    def _education(self, birth: date) -> str:
        age = REFERENCE_DATE.year - birth.year
        if age < 6:
            return "TIDAK/BELUM SEKOLAH"
        if age < 13:
            return "BELUM TAMAT SD/SEDERAJAT"
        if age < 16:
            return "TAMAT SD/SEDERAJAT"
        if age < 19:
            return "SLTP/SEDERAJAT"
        return pick(self._rng, _ADULT_EDUCATION)

    def _occupation(self, birth: date, sex: Sex, *, wife: bool) -> str:
        rng = self._rng
        age = REFERENCE_DATE.year - birth.year
        if age < 5:
            return "BELUM/TIDAK BEKERJA"
        if age < 23:
            return "PELAJAR/MAHASISWA"
        if wife and rng.random() < 0.45:
            return "MENGURUS RUMAH TANGGA"
        if age >= 60 and rng.random() < 0.4:
            return "PENSIUNAN"
        work = pick(rng, _ADULT_WORK)
        if sex == "PEREMPUAN" and work in ("TENTARA NASIONAL INDONESIA (TNI)", "SOPIR"):
            work = "KARYAWAN SWASTA"
        return work

    @staticmethod
    def _unique(seen: set[str], draw: Callable[[], str]) -> str:
        value = draw()
        while value in seen:
            value = draw()
        seen.add(value)
        return value
