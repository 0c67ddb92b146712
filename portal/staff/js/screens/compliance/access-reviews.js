// Access reviews: the list (newest first) and starting a new one — a snapshot of every staff
// account's roles and reach, and the break-glass uses since the last sign-off.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { navigate } from "../../router.js";
import { announce, busy, el, formatWhen, heading, table } from "../../ui.js";

export async function render(view) {
  view.append(
    heading("Access reviews"),
    el("p", {
      class: "hint",
      text: "Check that each person's roles and reach are still right, and judge every break-glass use. Sign off when nothing is outstanding.",
    }),
  );
  if (can("access_review.manage")) {
    const start = el("button", { type: "button", text: "Start a review" });
    start.addEventListener("click", () =>
      busy(start, async () => {
        const review = await call("POST", "/v1/access-reviews", {});
        announce("The review is started.");
        navigate(`/compliance/access-reviews/${review.id}`);
      }),
    );
    view.append(start);
  }
  const data = await call("GET", "/v1/access-reviews?limit=50");
  const rows = data.items.map((r) => [
    el("a", { href: `#/compliance/access-reviews/${r.id}`, text: formatWhen(r.started_at, { dateStyle: "medium", timeStyle: "short" }) }),
    r.status === "signed_off" ? `Signed off ${formatWhen(r.signed_off_at, { dateStyle: "medium" })}` : "Open",
    `${r.users.length} accounts, ${r.break_glass.length} break-glass uses`,
    r.status === "open" ? `${r.outstanding_users + r.outstanding_break_glass} outstanding` : "—",
  ]);
  view.append(table("Access reviews, newest first", ["Started", "Status", "Covers", "Outstanding"], rows, "No reviews yet."));
}
