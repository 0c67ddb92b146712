// Every area of the staff app registers its routes here: ONE import line per area. To add
// a screen, add routes to your area's file in ./areas/ (or a new area file and its import
// line below) — see docs/staff-app.md. Screens load on first use (dynamic import).

import account from "./areas/account.js";
import admin from "./areas/admin.js";
import billing from "./areas/billing.js";
import calendar from "./areas/calendar.js";
import clinical from "./areas/clinical.js";
import compliance from "./areas/compliance.js";
import home from "./areas/home.js";
import intake from "./areas/intake.js";
import messages from "./areas/messages.js";
import notes from "./areas/notes.js";
import patients from "./areas/patients.js";
import telehealth from "./areas/telehealth.js";

export const AREAS = [home, calendar, patients, notes, clinical, messages, telehealth, intake, billing, admin, compliance, account];
