// One access review: every staff account (keep, or change with a note) and every
// break-glass use of the period (justified or not; unjustified opens an incident), then the
// reviewer's sign-off with a summary. A signed-off review is read-only evidence.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { navigate } from "../../router.js";
import { announce, busy, clearErrors, el, field, formatWhen, heading, roleName, showFormError, table } from "../../ui.js";

const when = (iso) => formatWhen(iso, { dateStyle: "medium", timeStyle: "short" });

function choice(name, value, options, label) {
  const select = el("select", { name, "aria-label": label });
  select.append(el("option", { value: "", text: "Not decided" }));
  for (const [v, text] of options) select.append(el("option", { value: v, text, selected: v === value }));
  return select;
}

export async function render(view, { reviewId }) {
  const path = `/v1/access-reviews/${encodeURIComponent(reviewId)}`;
  const r = await call("GET", path);
  const open = r.status === "open" && can("access_review.manage");
  view.append(
    heading("Access review"),
    el(
      "dl",
      { class: "facts" },
      el("dt", { text: "Started" }),
      el("dd", { text: when(r.started_at) }),
      el("dt", { text: "Break-glass uses since" }),
      el("dd", { text: when(r.period_from) }),
      el("dt", { text: "Status" }),
      el("dd", { text: r.status === "signed_off" ? `Signed off ${when(r.signed_off_at)}` : `Open: ${r.outstanding_users + r.outstanding_break_glass} outstanding` }),
      ...(r.summary ? [el("dt", { text: "Summary" }), el("dd", { text: r.summary })] : []),
    ),
  );

  const userRows = r.users.map((u) => [
    u.display_name,
    u.roles.map(roleName).join(", "),
    u.status,
    String(u.care_team_patients),
    String(u.supervisees),
    open ? choice(`user:${u.user_id}`, u.decision, [["keep", "Keep"], ["change", "Change"]], `Decision for ${u.display_name}`) : u.decision || "—",
    open ? el("input", { name: `note:${u.user_id}`, value: u.note, maxlength: "2000", "aria-label": `Note for ${u.display_name}` }) : u.note,
  ]);
  const names = Object.fromEntries(r.users.map((u) => [u.user_id, u.display_name]));
  const useRows = r.break_glass.map((g) => [
    when(g.started_at),
    names[g.user_id] || g.user_id,
    el("a", { href: `#/compliance/access-report/${g.patient_id}`, text: g.patient_id }),
    g.reason || "—",
    open ? choice(`use:${g.grant_id}`, g.verdict, [["justified", "Justified"], ["unjustified", "Unjustified"]], `Verdict on the use at ${when(g.started_at)}`) : g.verdict || "—",
    open ? el("input", { name: `usenote:${g.grant_id}`, value: g.note, maxlength: "2000", "aria-label": `Note on the use at ${when(g.started_at)}` }) : g.note,
    g.incident_id || "—",
  ]);
  const save = el("button", { type: "submit", text: "Save decisions" });
  const form = el(
    "form",
    { id: "review-decisions", novalidate: true },
    el("h2", { text: "Accounts" }),
    table("Staff accounts, their roles and reach", ["Name", "Roles", "Status", "Care-team patients", "Supervisees", "Decision", "Note"], userRows, "No staff accounts."),
    el("h2", { text: "Break-glass uses" }),
    table("Break-glass uses in the period", ["When", "User", "Patient", "Reason given", "Verdict", "Note", "Incident"], useRows, "No break-glass uses in the period."),
    open ? save : null,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const users = [];
    const uses = [];
    for (const u of r.users) {
      const decision = form.elements[`user:${u.user_id}`].value;
      if (decision) users.push({ user_id: u.user_id, decision, note: form.elements[`note:${u.user_id}`].value.trim() });
    }
    for (const g of r.break_glass) {
      const verdict = form.elements[`use:${g.grant_id}`].value;
      if (verdict) uses.push({ grant_id: g.grant_id, verdict, note: form.elements[`usenote:${g.grant_id}`].value.trim() });
    }
    busy(save, async () => {
      try {
        await call("POST", `${path}/decisions`, { version: r.version, users, break_glass: uses });
      } catch (error) {
        if (error && error.code === "validation_failed") {
          showFormError(form, error, { missing: "A change needs a note saying what must change." });
          return;
        }
        throw error;
      }
      announce("Decisions saved.");
      navigate(`/compliance/access-reviews/${reviewId}`);
    });
  });
  view.append(form);

  if (open) {
    const sign = el("button", { type: "submit", text: "Sign off the review" });
    const signForm = el(
      "form",
      { id: "review-sign-off", novalidate: true },
      el("h2", { text: "Sign off" }),
      field("Summary", { name: "summary", required: true, maxlength: "8000", rows: "3" }, { tag: "textarea", hint: "What was found and what will change." }),
      sign,
    );
    signForm.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(signForm);
      busy(sign, async () => {
        try {
          await call("POST", `${path}/sign-off`, { version: r.version, summary: signForm.elements.summary.value.trim() });
        } catch (error) {
          if (error && error.code === "validation_failed") {
            showFormError(signForm, error);
            return;
          }
          throw error;
        }
        announce("The review is signed off.");
        navigate(`/compliance/access-reviews/${reviewId}`);
      });
    });
    view.append(signForm);
  }
}
