"""Name pools for the synthetic population, by naming tradition.

Dukcapil stores names in upper case, without titles, and the traditions differ in shape: Javanese and
Sundanese names are one or two personal names, Batak names end in a clan name (women's often as ``BR <marga>``),
Balinese names carry a sex prefix and a birth-order name, Sasak nobility use ``LALU`` / ``BAIQ``, Bugis
nobility ``ANDI``. Giving the mock those shapes lets fuzzy name matching meet realistic inputs.

The pools hold common given names and clan names only; combinations are drawn at random and copy no real record.
Surnames that would complete the name of a well-known public figure were left out on purpose.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

__all__ = ["GROUPS", "Group", "Sex", "pick"]

Sex = Literal["LAKI-LAKI", "PEREMPUAN"]


def pick(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    """Draw one value from ``(value, weight)`` pairs."""
    values = [value for value, _ in table]
    return rng.choices(values, [weight for _, weight in table])[0]


@dataclass(frozen=True, slots=True)
class Group:
    """One naming tradition: how to build a name, and the religions common among its bearers."""

    key: str
    male: tuple[str, ...]
    female: tuple[str, ...]
    male_second: tuple[str, ...] = ()
    female_second: tuple[str, ...] = ()
    clan: tuple[str, ...] = ()
    style: Literal["two", "clan", "batak", "bali", "prefix"] = "two"
    prefixes: tuple[str, str] = ("", "")
    prefix_rate: float = 0.0
    religions: tuple[tuple[str, float], ...] = (("ISLAM", 1.0),)

    def name(self, rng: random.Random, sex: Sex, *, clan: str | None = None) -> str:
        """Draw a full name; ``clan`` keeps a family's clan name across its members."""
        male = sex == "LAKI-LAKI"
        given = rng.choice(self.male if male else self.female)
        if self.style == "bali":
            order = rng.choice(_BALI_ORDER)
            return f"{'I' if male else 'NI'} {order} {given}"
        if self.style in ("clan", "batak"):
            family = clan or rng.choice(self.clan)
            if self.style == "batak" and not male:
                return f"{given} BR {family}"
            return f"{given} {family}"
        second_pool = self.male_second if male else self.female_second
        parts = [given]
        if second_pool and rng.random() < 0.8:
            second = rng.choice(second_pool)
            if second != given:
                parts.append(second)
        if self.style == "prefix" and rng.random() < self.prefix_rate:
            parts.insert(0, self.prefixes[0] if male else self.prefixes[1])
        return " ".join(parts)

    def religion(self, rng: random.Random) -> str:
        """Draw a religion (AGAMA) with this tradition's weights."""
        return pick(rng, self.religions)


_BALI_ORDER = ("WAYAN", "MADE", "NYOMAN", "KETUT", "PUTU", "KADEK", "KOMANG", "GEDE")

_CHRISTIAN = (("KRISTEN", 0.7), ("KATHOLIK", 0.2), ("ISLAM", 0.1))

GROUPS: dict[str, Group] = {
    g.key: g
    for g in (
        Group(
            "jawa",
            male=("BUDI", "AGUS", "BAMBANG", "DWI", "EKO", "HERU", "SLAMET", "SUGENG", "WAHYU", "TRI", "ARIF",
                  "ADI", "RUDI", "SUPARMAN", "SUTRISNO", "YUDI", "BAYU", "ANDRI"),
            female=("SRI", "SITI", "DEWI", "ENDANG", "RATNA", "WULAN", "RINI", "TUTIK", "YULI", "PUJI", "INDAH",
                    "SUMARNI", "PARIYEM", "ANI", "NUR"),
            male_second=("SANTOSO", "SETIAWAN", "PRASETYO", "NUGROHO", "WIBOWO", "HARTONO", "KURNIAWAN",
                         "SUSANTO", "PURNOMO", "HIDAYAT", "SAPUTRA", "WIJAYA", "RIYADI", "SUPRIYADI"),
            female_second=("WAHYUNI", "RAHAYU", "LESTARI", "HANDAYANI", "PURWANTI", "SUSILOWATI", "ASTUTI",
                           "WULANDARI", "NINGSIH", "UTAMI", "KHASANAH", "SETYOWATI"),
            religions=(("ISLAM", 0.9), ("KRISTEN", 0.05), ("KATHOLIK", 0.05)),
        ),
        Group(
            "sunda",
            male=("ASEP", "DADANG", "UJANG", "CECEP", "DEDE", "YAYAN", "ENDANG", "HENDRA", "DODI", "AAN",
                  "JAJANG", "IWAN"),
            female=("ENENG", "NENG", "IIS", "EUIS", "YANTI", "NENI", "ENTIN", "LILIS", "IMAS", "ELIS", "TATI"),
            male_second=("SAEPUDIN", "SUPRIATNA", "HIDAYAT", "KURNIA", "SUHENDAR", "RUSTANDI", "SOPIAN",
                         "GUNAWAN", "NURJAMAN", "SETIADI"),
            female_second=("NURHAYATI", "ROHAYATI", "KOMALASARI", "SUMIATI", "MULYATI", "RAHMAWATI",
                           "SURYANI", "NURJANAH"),
        ),
        Group(
            "batak",
            male=("MARULI", "PARLINDUNGAN", "TUMPAL", "HOTMAN", "JONATHAN", "DANIEL", "ROBERT", "SAUT", "BONAR",
                  "POLTAK", "RICARDO"),
            female=("RIA", "ROSMA", "LINDA", "TIUR", "MAGDALENA", "DORMAULI", "NURMAIDA", "HERLINA", "ROSLINA"),
            clan=("SIMANJUNTAK", "SITUMORANG", "HUTAGALUNG", "NAPITUPULU", "SIREGAR", "PANJAITAN", "SIHOMBING",
                  "MANURUNG", "SINAGA", "TAMPUBOLON", "PASARIBU", "SIMATUPANG", "HUTAPEA"),
            style="batak",
            religions=(("KRISTEN", 0.6), ("KATHOLIK", 0.2), ("ISLAM", 0.2)),
        ),
        Group(
            "minang",
            male=("RIZAL", "AFRIZAL", "ZULKIFLI", "YUSRIZAL", "FIRDAUS", "HENDRI", "IRWAN", "DEDI", "ANDRIZAL"),
            female=("YENI", "RAHMI", "FITRI", "NOVIA", "ELFI", "YUSNIDAR", "ZURAIDA", "DESI", "ROSNITA"),
            male_second=("PUTRA", "SYAHPUTRA", "EFENDI", "HAMDANI", "SYAFRUDDIN", "AZWAR", "MUCHTAR"),
            female_second=("YANTI", "SUSANTI", "MARLINA", "ROSMAWATI", "HASNIDAR", "NOFRIYANTI", "ERNAWATI"),
        ),
        Group(
            "aceh",
            male=("MUHAMMAD", "ZULFIKAR", "MUNAWAR", "SYAHRIL", "FAKHRUL", "RAHMAT", "MAHYUDDIN", "KHAIRUL"),
            female=("NURUL", "SITI", "RAHMAH", "FAUZIAH", "MUNAWARAH", "CUT NUR", "RATNA", "SALWA"),
            male_second=("HASAN", "IBRAHIM", "ISKANDAR", "RIDWAN", "ZAINAL", "USMAN", "MAULANA", "ABDULLAH"),
            female_second=("AINI", "NURHAYATI", "MAULIZA", "HUSNA", "SAFRIDA", "ZAHARA", "RAHMI"),
        ),
        Group(
            "melayu",
            male=("HERMAN", "AHMAD", "IDRUS", "SYAMSUL", "FIRMANSYAH", "RAHMAT", "ZAINUDDIN", "HENDRA", "ROSADI"),
            female=("NURLELA", "ROHANA", "SALMAH", "DIAN", "MARYAM", "JUWITA", "ROSIDAH", "HALIMAH"),
            male_second=("HAMID", "BAKRI", "SYAHRIAL", "MAULANA", "ARIFIN", "SUKRI", "KHAIRUDDIN"),
            female_second=("ARYANI", "FITRIANI", "SUSANTI", "MARDIANA", "SAFITRI", "AGUSTINA"),
        ),
        Group(
            "bali",
            male=("SUDARSANA", "ARTAWAN", "SUKADANA", "MERTAYASA", "WIRAWAN", "SUARJANA", "ADI PUTRA",
                  "DARMAWAN", "BUDIARTA", "SUWITRA"),
            female=("ARIANI", "SUARNI", "WIDIASTUTI", "SRI ASTUTI", "YULIANTARI", "PURNAMI", "SUKERTI",
                    "DARMAYANTI", "SUASTINI"),
            style="bali",
            religions=(("HINDU", 0.92), ("ISLAM", 0.04), ("KRISTEN", 0.04)),
        ),
        Group(
            "sasak",
            male=("MUHAMMAD", "ZAINI", "AHMAD", "HAERUDIN", "SUPARDI", "MUSTAFA", "SAHNAN", "HAMDI"),
            female=("NURHIDAYAH", "SUMIATI", "HAERANI", "RATNA", "MAHNI", "SAHNUN", "RAHMAWATI"),
            male_second=("HAMDANI", "ZULKARNAEN", "SAPOAN", "FAHRUROZI", "IRFAN"),
            female_second=("WAHYUNI", "NURAINI", "HARTINI", "SUHARNI"),
            style="prefix",
            prefixes=("LALU", "BAIQ"),
            prefix_rate=0.3,
        ),
        Group(
            "ntt",
            male=("YOHANES", "PETRUS", "YOSEF", "MARKUS", "FRANSISKUS", "YOHANIS", "AGUSTINUS", "MIKHAEL"),
            female=("MARIA", "MARIANA", "YULIANA", "AGUSTINA", "MARGARETA", "ELISABETH", "YOSEFINA", "DOROTEA"),
            clan=("FANGGIDAE", "NDOEN", "MANAFE", "TALAN", "BENU", "NENO", "SELAN", "TAOPAN", "LAKA", "BANI"),
            style="clan",
            religions=(("KRISTEN", 0.6), ("KATHOLIK", 0.35), ("ISLAM", 0.05)),
        ),
        Group(
            "tionghoa",
            male=("HENDRA", "WILLIAM", "KEVIN", "FELIX", "ANDY", "ROBBY", "JIMMY", "STEVEN", "BUDIMAN"),
            female=("LIANA", "MEILINA", "YENNY", "SHERLY", "VERONIKA", "LILY", "MELISA", "SUSAN"),
            clan=("HALIM", "TANUWIJAYA", "GUNAWAN", "SUSANTO", "SANTOSO", "LIMANTO", "HARTANTO", "KUSUMA"),
            style="clan",
            religions=(("BUDHA", 0.45), ("KRISTEN", 0.25), ("KATHOLIK", 0.2), ("KONGHUCU", 0.1)),
        ),
        Group(
            "banjar",
            male=("MUHAMMAD", "AHMAD", "SYARIFUDDIN", "ABDUL RAHMAN", "HAIRUL", "NORDIN", "RUSMAN"),
            female=("NOOR", "SARI", "RAHMAWATI", "MASLIANI", "NORMA", "SITI", "HALIMAH"),
            male_second=("ANSARI", "RIDUAN", "ARSYAD", "HIDAYATULLAH", "NOOR", "FAUZI"),
            female_second=("JANNAH", "HAYATI", "FITRIAH", "MAHMUDAH", "AINUN", "RAHMAH"),
        ),
        Group(
            "minahasa",
            male=("JOHAN", "RICKY", "FRANKY", "STEVEN", "JEFRI", "DENNY", "ROY", "HENDRIK", "ALFRED"),
            female=("MEILAN", "NOVITA", "SINTIA", "FELISIA", "GRACE", "JUNITA", "VIVI", "DEIBY"),
            clan=("WOWOR", "RUMENGAN", "LUMENTUT", "SUMAMPOW", "KALANGI", "TUMBELAKA", "PANDELAKI", "RONDONUWU",
                  "WUISAN", "MANDAGI"),
            style="clan",
            religions=(("KRISTEN", 0.8), ("KATHOLIK", 0.1), ("ISLAM", 0.1)),
        ),
        Group(
            "bugis",
            male=("MUHAMMAD", "SYAMSUDDIN", "IRWAN", "BAHARUDDIN", "RUSLAN", "ASRUL", "SUDIRMAN", "AMIRUDDIN",
                  "JUMADI"),
            female=("NURHAYATI", "HASNAH", "SITTI", "RAHMA", "MARWAH", "HADIJAH", "ASMAWATI", "NURLINA"),
            male_second=("RAHMAN", "SALEH", "LATIF", "HASAN", "BAKRI", "MUSTARI", "ARSYAD", "MAPPA"),
            female_second=("AMINAH", "NURJANNAH", "SAENAB", "HASMAWATI", "FATIMAH"),
            style="prefix",
            prefixes=("ANDI", "ANDI"),
            prefix_rate=0.2,
            religions=(("ISLAM", 0.95), ("KRISTEN", 0.05)),
        ),
        Group(
            "ambon",
            male=("YOPI", "MARTHINUS", "ROBERT", "SEMUEL", "ELIA", "ABRAHAM", "JACOB", "NICO"),
            female=("MARTHA", "YOHANA", "EVI", "DEBORA", "PAULINA", "LENNY", "SELVY", "NONI"),
            clan=("PATTIASINA", "LATUHARHARY", "PATTIKAWA", "TUHUMURY", "SAHETAPY", "LEKATOMPESSY",
                  "PELUPESSY", "TITALEY", "WATTIMENA", "SAPULETTE"),
            style="clan",
            religions=(("KRISTEN", 0.7), ("ISLAM", 0.25), ("KATHOLIK", 0.05)),
        ),
        Group(
            "papua",
            male=("YOSIAS", "MARTHEN", "YONAS", "NIKOLAS", "AMOS", "OBED", "YAKOB", "ELIAS", "DORTEUS"),
            female=("MERY", "YULIANA", "AGUSTINA", "FERONIKA", "ELSINA", "NELCE", "YOHANA", "SARLOTA"),
            clan=("YOKU", "OHEE", "MERAUJE", "WALLY", "RUMBIAK", "WANDIK", "KOGOYA", "MANDOWEN", "FONATABA",
                  "SAWAKI"),
            style="clan",
            religions=_CHRISTIAN,
        ),
    )
}
"""Naming traditions by key; regions refer to them with weights."""
