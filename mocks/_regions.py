"""Administrative regions for the synthetic population, spread across the archipelago.

Province and regency codes and names are the Ministry of Home Affairs (Kemendagri) codes that NIKs encode, which
is why Kota Jayapura is ``91.71`` here: ``94.71`` is its Statistics Indonesia (BPS) code, and Kemendagri's 94 is
Papua Tengah since the 2022 split. District and village names are real places inside their regency, but their
numbers are illustrative: they have the right shape (two-digit district, four-digit village, ``1xxx`` for an
urban kelurahan, ``2xxx`` for a desa) without claiming to copy the official table.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROVINCES", "REGENCIES", "District", "Regency"]

PROVINCES: dict[str, str] = {
    "11": "ACEH",
    "12": "SUMATERA UTARA",
    "13": "SUMATERA BARAT",
    "16": "SUMATERA SELATAN",
    "31": "DKI JAKARTA",
    "32": "JAWA BARAT",
    "33": "JAWA TENGAH",
    "34": "DAERAH ISTIMEWA YOGYAKARTA",
    "35": "JAWA TIMUR",
    "36": "BANTEN",
    "51": "BALI",
    "52": "NUSA TENGGARA BARAT",
    "53": "NUSA TENGGARA TIMUR",
    "61": "KALIMANTAN BARAT",
    "64": "KALIMANTAN TIMUR",
    "71": "SULAWESI UTARA",
    "73": "SULAWESI SELATAN",
    "81": "MALUKU",
    "91": "PAPUA",
}
"""Province code -> name, as Dukcapil spells it."""


@dataclass(frozen=True, slots=True)
class District:
    """A kecamatan and some of its villages; ``desa`` marks rural villages (codes ``2xxx``)."""

    number: str
    name: str
    villages: tuple[str, ...]
    desa: bool = False


@dataclass(frozen=True, slots=True)
class Regency:
    """A regency (KAB.) or city (KOTA): its code, the birth place its natives give, and who lives there."""

    code: str
    name: str
    birth_place: str
    weight: float
    groups: tuple[tuple[str, float], ...]
    districts: tuple[District, ...]

    @property
    def province_code(self) -> str:
        """The two-digit province code (first half of the regency code)."""
        return self.code[:2]


def _d(number: str, name: str, *villages: str, desa: bool = False) -> District:
    return District(number, name, villages, desa)


REGENCIES: tuple[Regency, ...] = (
    Regency("1171", "KOTA BANDA ACEH", "BANDA ACEH", 1.0, (("aceh", 1.0),), (
        _d("02", "BAITURRAHMAN", "PEUNITI", "NEUSU JAYA", "SEUTUI", desa=True),
        _d("03", "KUTA ALAM", "LAMPULO", "BANDAR BARU", "PEUNAYONG", desa=True),
        _d("04", "SYIAH KUALA", "RUKOH", "KOPELMA DARUSSALAM", "JEULINGKE", desa=True),
    )),
    Regency("1275", "KOTA MEDAN", "MEDAN", 2.0, (("batak", 0.5), ("melayu", 0.2), ("jawa", 0.2), ("tionghoa", 0.1)), (
        _d("05", "MEDAN BARU", "PADANG BULAN", "TITI RANTAI", "MERDEKA", "DARAT"),
        _d("09", "MEDAN PETISAH", "PETISAH TENGAH", "SEI PUTIH TIMUR I", "SEKIP"),
        _d("15", "MEDAN JOHOR", "GEDUNG JOHOR", "KWALA BEKALA", "PANGKALAN MASYHUR"),
    )),
    Regency("1371", "KOTA PADANG", "PADANG", 1.0, (("minang", 1.0),), (
        _d("03", "PADANG BARAT", "OLO", "PURUS", "BELAKANG TANGSI"),
        _d("05", "PADANG UTARA", "AIR TAWAR BARAT", "ULAK KARANG UTARA", "GUNUNG PANGILUN"),
        _d("06", "KOTO TANGAH", "LUBUK BUAYA", "DADOK TUNGGUL HITAM", "BATANG KABUNG GANTING"),
    )),
    Regency("1671", "KOTA PALEMBANG", "PALEMBANG", 1.2, (("melayu", 0.7), ("jawa", 0.2), ("tionghoa", 0.1)), (
        _d("03", "ILIR BARAT I", "BUKIT LAMA", "DEMANG LEBAR DAUN", "LOROK PAKJO"),
        _d("05", "ILIR TIMUR I", "SUNGAI PANGERAN", "KEPANDEAN BARU"),
        _d("07", "KEMUNING", "PIPA REJA", "TALANG AMAN", "SEKIP JAYA"),
    )),
    Regency("3171", "KOTA JAKARTA SELATAN", "JAKARTA", 2.5,
            (("jawa", 0.4), ("sunda", 0.2), ("batak", 0.1), ("minang", 0.1), ("tionghoa", 0.1), ("bugis", 0.1)), (
        _d("07", "KEBAYORAN BARU", "SENAYAN", "GUNUNG", "KRAMAT PELA", "MELAWAI"),
        _d("09", "TEBET", "TEBET BARAT", "MANGGARAI", "BUKIT DURI"),
        _d("10", "SETIABUDI", "KARET", "KUNINGAN TIMUR", "MENTENG ATAS"),
    )),
    Regency("3201", "KAB. BOGOR", "BOGOR", 2.5, (("sunda", 0.8), ("jawa", 0.2)), (
        _d("01", "CIBINONG", "PAKANSARI", "NANGGEWER", "CIRIMEKAR"),
        _d("19", "CIAWI", "BENDUNGAN", "CITAPEN", "BANJARSARI", desa=True),
        _d("29", "DRAMAGA", "BABAKAN", "CIHERANG", "SINARSARI", desa=True),
    )),
    Regency("3273", "KOTA BANDUNG", "BANDUNG", 2.5,
            (("sunda", 0.75), ("jawa", 0.15), ("batak", 0.05), ("tionghoa", 0.05)), (
        _d("02", "COBLONG", "DAGO", "SEKELOA", "LEBAK SILIWANGI", "CIPAGANTI"),
        _d("07", "SUKAJADI", "PASTEUR", "CIPEDES", "SUKAWARNA"),
        _d("22", "BUAHBATU", "CIJAWURA", "MARGASARI", "JATISARI"),
    )),
    Regency("3374", "KOTA SEMARANG", "SEMARANG", 1.5, (("jawa", 0.9), ("tionghoa", 0.1)), (
        _d("02", "SEMARANG TENGAH", "SEKAYU", "PANDANSARI", "KEMBANGSARI"),
        _d("10", "BANYUMANIK", "SRONDOL WETAN", "PEDALANGAN", "SUMURBOTO"),
        _d("11", "TEMBALANG", "TEMBALANG", "BULUSAN", "SENDANGMULYO"),
    )),
    Regency("3404", "KAB. SLEMAN", "SLEMAN", 1.2, (("jawa", 1.0),), (
        _d("07", "DEPOK", "CATURTUNGGAL", "MAGUWOHARJO", "CONDONGCATUR", desa=True),
        _d("09", "MLATI", "SINDUADI", "SENDANGADI", "TLOGOADI", desa=True),
    )),
    Regency("3471", "KOTA YOGYAKARTA", "YOGYAKARTA", 0.8, (("jawa", 0.95), ("tionghoa", 0.05)), (
        _d("09", "GONDOKUSUMAN", "TERBAN", "KOTABARU", "BACIRO"),
        _d("13", "KRATON", "PANEMBAHAN", "KADIPATEN", "PATEHAN"),
    )),
    Regency("3573", "KOTA MALANG", "MALANG", 1.0, (("jawa", 0.95), ("tionghoa", 0.05)), (
        _d("02", "KLOJEN", "ORO-ORO DOWO", "KAUMAN", "KIDUL DALEM"),
        _d("05", "LOWOKWARU", "KETAWANGGEDE", "DINOYO", "TUNGGULWULUNG"),
    )),
    Regency("3578", "KOTA SURABAYA", "SURABAYA", 2.5, (("jawa", 0.9), ("tionghoa", 0.1)), (
        _d("10", "GUBENG", "AIRLANGGA", "GUBENG", "MOJO", "PUCANG SEWU"),
        _d("11", "WONOKROMO", "DARMO", "NGAGEL", "JAGIR"),
        _d("13", "TAMBAKSARI", "PLOSO", "PACAR KELING", "GADING"),
    )),
    Regency("3671", "KOTA TANGERANG", "TANGERANG", 1.5, (("sunda", 0.4), ("jawa", 0.4), ("tionghoa", 0.2)), (
        _d("03", "CIPONDOH", "CIPONDOH", "PORIS PLAWAD", "KENANGA"),
        _d("05", "KARAWACI", "KARAWACI", "CIMONE", "NUSAJAYA"),
    )),
    Regency("5103", "KAB. BADUNG", "BADUNG", 0.8, (("bali", 0.9), ("jawa", 0.1)), (
        _d("02", "KUTA", "KUTA", "LEGIAN", "SEMINYAK"),
        _d("04", "MENGWI", "MENGWI", "KAPAL", "ABIANBASE", desa=True),
    )),
    Regency("5171", "KOTA DENPASAR", "DENPASAR", 1.2, (("bali", 0.85), ("jawa", 0.15)), (
        _d("01", "DENPASAR SELATAN", "SANUR", "SESETAN", "PANJER"),
        _d("03", "DENPASAR BARAT", "DAUH PURI", "PADANGSAMBIAN"),
        _d("04", "DENPASAR UTARA", "PEGUYANGAN", "UBUNG", "DAUH PURI KAJA"),
    )),
    Regency("5271", "KOTA MATARAM", "MATARAM", 0.8, (("sasak", 0.8), ("bali", 0.1), ("jawa", 0.1)), (
        _d("01", "AMPENAN", "AMPENAN SELATAN", "AMPENAN TENGAH", "KEBUN SARI"),
        _d("04", "CAKRANEGARA", "CAKRANEGARA BARAT", "SAYANG SAYANG", "CILINAYA"),
    )),
    Regency("5371", "KOTA KUPANG", "KUPANG", 0.8, (("ntt", 1.0),), (
        _d("02", "KELAPA LIMA", "OESAPA", "KELAPA LIMA", "LASIANA"),
        _d("04", "OEBOBO", "OEBOBO", "OETETE", "FATULULI"),
    )),
    Regency("6171", "KOTA PONTIANAK", "PONTIANAK", 0.8, (("melayu", 0.5), ("tionghoa", 0.35), ("jawa", 0.15)), (
        _d("02", "PONTIANAK SELATAN", "AKCAYA", "BENUA MELAYU DARAT", "PARIT TOKAYA"),
        _d("03", "PONTIANAK KOTA", "DARAT SEKIP", "MARIANA", "SUNGAI JAWI"),
    )),
    Regency("6472", "KOTA SAMARINDA", "SAMARINDA", 0.8, (("banjar", 0.5), ("bugis", 0.25), ("jawa", 0.25)), (
        _d("03", "SUNGAI KUNJANG", "KARANG ASAM ULU", "LOK BAHU", "TELUK LERONG ULU"),
        _d("05", "SAMARINDA ULU", "AIR PUTIH", "DADI MULYA", "SIDODADI"),
    )),
    Regency("7171", "KOTA MANADO", "MANADO", 0.8, (("minahasa", 0.85), ("bugis", 0.15)), (
        _d("01", "MALALAYANG", "MALALAYANG SATU", "BAHU", "KLEAK"),
        _d("05", "WANEA", "WANEA", "TINGKULU", "BUMI NYIUR"),
    )),
    Regency("7371", "KOTA MAKASSAR", "MAKASSAR", 1.5, (("bugis", 0.85), ("jawa", 0.05), ("tionghoa", 0.1)), (
        _d("04", "UJUNG PANDANG", "BARU", "LOSARI", "SAWERIGADING"),
        _d("09", "PANAKKUKANG", "PANAIKANG", "KARAMPUANG", "MASALE"),
        _d("14", "TAMALANREA", "TAMALANREA", "KAPASA", "BIRA"),
    )),
    Regency("8171", "KOTA AMBON", "AMBON", 0.7, (("ambon", 1.0),), (
        _d("01", "NUSANIWE", "BENTENG", "WAIHAONG", "KUDAMATI"),
        _d("02", "SIRIMAU", "BATU MERAH", "BATU GAJAH", "HONIPOPU"),
    )),
    Regency("9171", "KOTA JAYAPURA", "JAYAPURA", 0.7,
            (("papua", 0.6), ("jawa", 0.15), ("bugis", 0.15), ("ambon", 0.1)), (
        _d("01", "JAYAPURA UTARA", "GURABESI", "BHAYANGKARA", "MANDALA"),
        _d("02", "JAYAPURA SELATAN", "ARGAPURA", "ARDIPURA", "HAMADI"),
        _d("04", "HERAM", "WAENA", "HEDAM", "YABANSAI"),
    )),
)
"""The regencies and cities the population lives in, weighted roughly by size."""
