// NIK and KK checks as the shared kernel does them (shared/identity.py), so the operator
// sees a mistake while typing. The server checks again; these messages are only earlier.

export const PROVINCES = {
  11: "Aceh", 12: "Sumatera Utara", 13: "Sumatera Barat", 14: "Riau", 15: "Jambi",
  16: "Sumatera Selatan", 17: "Bengkulu", 18: "Lampung", 19: "Kepulauan Bangka Belitung",
  21: "Kepulauan Riau", 31: "DKI Jakarta", 32: "Jawa Barat", 33: "Jawa Tengah",
  34: "Daerah Istimewa Yogyakarta", 35: "Jawa Timur", 36: "Banten", 51: "Bali",
  52: "Nusa Tenggara Barat", 53: "Nusa Tenggara Timur", 61: "Kalimantan Barat",
  62: "Kalimantan Tengah", 63: "Kalimantan Selatan", 64: "Kalimantan Timur",
  65: "Kalimantan Utara", 71: "Sulawesi Utara", 72: "Sulawesi Tengah",
  73: "Sulawesi Selatan", 74: "Sulawesi Tenggara", 75: "Gorontalo", 76: "Sulawesi Barat",
  81: "Maluku", 82: "Maluku Utara", 91: "Papua", 92: "Papua Barat", 93: "Papua Selatan",
  94: "Papua Tengah", 95: "Papua Pegunungan", 96: "Papua Barat Daya",
};

// Two-digit year: the latest century that keeps the date on or before today.
function ddmmyy(dd, mm, yy, today) {
  let year = today.getFullYear() - (today.getFullYear() % 100) + yy;
  const asNumber = (y, m, d) => y * 10000 + m * 100 + d;
  if (asNumber(year, mm, dd) > asNumber(today.getFullYear(), today.getMonth() + 1, today.getDate())) {
    year -= 100;
  }
  const d = new Date(Date.UTC(year, mm - 1, dd));
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== mm - 1 || d.getUTCDate() !== dd) {
    return null;
  }
  return d;
}

function civilDigits(raw, label) {
  const digits = String(raw).replace(/[\s.\-]/g, "");
  if (!digits) return { error: `${label} masih kosong` };
  if (!/^[0-9]+$/.test(digits)) return { error: `${label} hanya boleh berisi angka 0-9` };
  if (digits.length !== 16) {
    return { error: `${label} harus 16 digit (sekarang ${digits.length})` };
  }
  if (!PROVINCES[digits.slice(0, 2)]) {
    return { error: `${label} diawali ${digits.slice(0, 2)}, bukan kode provinsi Indonesia` };
  }
  if (digits.slice(2, 4) === "00") return { error: `${label}: kode kabupaten/kota tidak boleh 00` };
  if (digits.slice(4, 6) === "00") return { error: `${label}: kode kecamatan tidak boleh 00` };
  if (digits.slice(12) === "0000") {
    return { error: `${label}: nomor urut (4 digit terakhir) tidak boleh 0000` };
  }
  return { digits };
}

const fmt = (d) => d.toLocaleDateString("id-ID", { timeZone: "UTC", day: "2-digit",
                                                   month: "long", year: "numeric" });

export function checkNik(raw, today = new Date()) {
  const { digits, error } = civilDigits(raw, "NIK");
  if (error) return { ok: false, message: error };
  let day = Number(digits.slice(6, 8));
  const female = day > 40;
  if (female) day -= 40;
  const born = ddmmyy(day, Number(digits.slice(8, 10)), Number(digits.slice(10, 12)), today);
  if (!born) {
    return { ok: false, message: "Digit 7-12 NIK bukan tanggal lahir DDMMYY yang benar " +
                                 "(perempuan: tanggal ditambah 40)" };
  }
  return {
    ok: true, value: digits,
    message: `${female ? "Perempuan" : "Laki-laki"}, lahir ${fmt(born)}, ` +
             `${PROVINCES[digits.slice(0, 2)]}, kecamatan ${digits.slice(0, 6)}`,
  };
}

export function checkKk(raw, today = new Date()) {
  const { digits, error } = civilDigits(raw, "Nomor KK");
  if (error) return { ok: false, message: error };
  const issued = ddmmyy(Number(digits.slice(6, 8)), Number(digits.slice(8, 10)),
                        Number(digits.slice(10, 12)), today);
  if (!issued) return { ok: false, message: "Digit 7-12 nomor KK bukan tanggal terbit DDMMYY" };
  return { ok: true, value: digits, message: `KK terbit ${fmt(issued)}` };
}

// A Kemendagri area code: 2, 4, 6 or 10 digits, dotted or not.
export function checkWilayah(raw) {
  const digits = String(raw).replace(/[\s.]/g, "");
  if (!/^[0-9]+$/.test(digits) || ![2, 4, 6, 10].includes(digits.length)) {
    return { ok: false, message: "Kode wilayah harus 2, 4, 6 atau 10 digit" };
  }
  if (!PROVINCES[digits.slice(0, 2)]) return { ok: false, message: "Kode provinsi tidak dikenal" };
  return { ok: true, value: digits, message: "" };
}
