// Wall-clock times in the practice's (or a location's) time zone <-> instants, with Intl
// only (no time-zone library): what a calendar needs to ask the API for "Tuesday 10:00 in
// Chicago" and to draw an instant on the right day.

function parts(date, zone) {
  const out = {};
  for (const p of new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(date)) out[p.type] = p.value;
  return out;
}

/** Minutes the zone is ahead of UTC at `date`. */
export function offsetMinutes(date, zone) {
  const p = parts(date, zone);
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second);
  return Math.round((asUtc - date.getTime()) / 60000);
}

/** The instant of local "YYYY-MM-DD" + "HH:MM" in `zone`. */
export function zonedInstant(day, time, zone) {
  const [y, m, d] = day.split("-").map(Number);
  const [hh, mm] = time.split(":").map(Number);
  const guess = Date.UTC(y, m - 1, d, hh, mm);
  let instant = guess - offsetMinutes(new Date(guess), zone) * 60000;
  instant = guess - offsetMinutes(new Date(instant), zone) * 60000; // across a DST change
  return new Date(instant);
}

/** RFC 3339 with the zone's offset, e.g. 2026-12-08T10:00:00-06:00. */
export function zonedIso(day, time, zone) {
  const instant = zonedInstant(day, time, zone);
  const off = offsetMinutes(instant, zone);
  const sign = off >= 0 ? "+" : "-";
  const abs = Math.abs(off);
  const hh = String(Math.floor(abs / 60)).padStart(2, "0");
  const mm = String(abs % 60).padStart(2, "0");
  return `${day}T${time.length === 5 ? `${time}:00` : time}${sign}${hh}:${mm}`;
}

/** Local "YYYY-MM-DD" and "HH:MM" of an instant in `zone`. */
export function localParts(iso, zone) {
  const p = parts(new Date(iso), zone);
  return { day: `${p.year}-${p.month}-${p.day}`, time: `${p.hour}:${p.minute}` };
}

export function addDays(day, n) {
  const d = new Date(`${day}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** Monday of the week containing `day`. */
export function weekStart(day) {
  const d = new Date(`${day}T12:00:00Z`);
  const back = (d.getUTCDay() + 6) % 7;
  return addDays(day, -back);
}
