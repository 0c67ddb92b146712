// A form generated from a clinical template: its layout (sections of JSON pointers) and its
// JSON Schema (draft 2020-12; the subset the 48 templates use: objects, strings with
// format/enum/pattern/length, integers, booleans, const-true attestations, arrays of enums,
// of strings and of objects). Every control carries data-field="content<pointer>" so the
// API's field errors (`body.content/session/date`) land next to it. Fields required at
// signing say so in their label.

import { el } from "../../ui.js";

let seq = 0;
const LONG_TEXT = 300; // maxLength above this: a textarea

function idFor() {
  seq += 1;
  return `nf${seq}`;
}

function titleOf(schema, key) {
  return schema.title || String(key).replaceAll("_", " ");
}

function humanEnum(value) {
  const text = String(value).replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function box(pointer, label, control, { hint = "", signing = false, legend = false } = {}) {
  const id = control.id || idFor();
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : "";
  const labelText = signing ? `${label} (required to sign)` : label;
  const head = legend
    ? el("legend", { text: labelText })
    : el("label", { for: id, text: labelText });
  const wrap = el(
    legend ? "fieldset" : "div",
    { class: `field${signing ? " signing" : ""}`, "data-field": `content${pointer}` },
    head,
    hint ? el("p", { id: hintId, class: "hint", text: hint }) : null,
    el("p", { id: errorId, class: "field-error", hidden: true }),
    control,
  );
  if (!legend) control.setAttribute("aria-describedby", [hintId, errorId].filter(Boolean).join(" "));
  return wrap;
}

/** Builds the controls for `schema` at `pointer`; returns a node. `ctx.signing` is the set
 * of pointers required at signing; `ctx.readonly` renders values as text. */
function render(schema, pointer, key, value, ctx) {
  // "/problems/*/goal" in required_at_signing covers every row of an array
  const signing = ctx.signing.has(pointer) || ctx.signing.has(pointer.replace(/\/\d+(?=\/|$)/g, "/*"));
  const label = titleOf(schema, key);
  if (schema.type === "object" && schema.properties) {
    // The schema's own required fields are checked in full at signing too (drafts may be
    // partial), so they carry the same mark.
    for (const k of schema.required || []) ctx.signing.add(`${pointer}/${k}`.replace(/\/\d+(?=\/|$)/g, "/*"));
    const children = Object.entries(schema.properties).map(([k, s]) =>
      render(s, `${pointer}/${k}`, k, value && typeof value === "object" ? value[k] : undefined, ctx),
    );
    return el(
      "fieldset",
      { class: `group${signing ? " signing" : ""}`, "data-field": `content${pointer}` },
      el("legend", { text: signing ? `${label} (required to sign)` : label }),
      el("p", { class: "field-error", id: `${idFor()}-error`, hidden: true }),
      ...children,
    );
  }
  if (schema.type === "array") return renderArray(schema, pointer, label, value, ctx, signing);
  if (schema.const === true) {
    // an attestation ("I understand …"): ticked or not given
    const id = idFor();
    const input = el("input", { type: "checkbox", id, "data-pointer": pointer, "data-kind": "const", checked: value === true, disabled: ctx.readonly });
    return el(
      "div",
      { class: `field check${signing ? " signing" : ""}`, "data-field": `content${pointer}` },
      input,
      el("label", { for: id, text: signing ? `${label} (required to sign)` : label }),
      el("p", { id: `${id}-error`, class: "field-error", hidden: true }),
    );
  }
  if (schema.type === "boolean") {
    // yes / no / not answered: "no" is an answer, a blank is not
    const id = idFor();
    const select = el(
      "select",
      { id, "data-pointer": pointer, "data-kind": "boolean", disabled: ctx.readonly },
      el("option", { value: "", text: "Choose…" }),
      el("option", { value: "true", text: "Yes", selected: value === true }),
      el("option", { value: "false", text: "No", selected: value === false }),
    );
    return box(pointer, label, select, { signing });
  }
  if (schema.enum) {
    const id = idFor();
    const select = el(
      "select",
      { id, "data-pointer": pointer, "data-kind": schema.type === "integer" ? "integer" : "string", disabled: ctx.readonly },
      el("option", { value: "", text: "Choose…" }),
      ...schema.enum.map((v) => el("option", { value: String(v), text: humanEnum(v), selected: value !== undefined && String(value) === String(v) })),
    );
    return box(pointer, label, select, { signing });
  }
  if (schema.type === "integer" || schema.type === "number") {
    const id = idFor();
    const input = el("input", {
      id, type: "number", inputmode: "numeric", "data-pointer": pointer, "data-kind": schema.type,
      min: schema.minimum, max: schema.maximum, step: schema.type === "integer" ? "1" : "any",
      value: value ?? "", readonly: ctx.readonly,
    });
    const range = schema.minimum !== undefined && schema.maximum !== undefined ? `From ${schema.minimum} to ${schema.maximum}.` : "";
    return box(pointer, label, input, { signing, hint: range });
  }
  // strings
  const id = idFor();
  const long = !schema.format && !schema.pattern && (schema.maxLength || 0) > LONG_TEXT;
  const attrs = { id, "data-pointer": pointer, "data-kind": "string", readonly: ctx.readonly };
  let control;
  let hint = "";
  if (long) {
    control = el("textarea", { ...attrs, rows: schema.maxLength > 4000 ? "6" : "3", maxlength: schema.maxLength });
    control.value = value ?? "";
  } else {
    const type = schema.format === "date" ? "date" : schema.format === "email" ? "email" : "text";
    if (schema.format === "date-time") {
      const shown = value ? String(value).slice(0, 16) : "";
      control = el("input", { ...attrs, type: "datetime-local", "data-kind": "date-time", "data-original": value ?? "", "data-shown": shown, value: shown });
      hint = "In your time zone.";
    } else if (schema.pattern === "^([01][0-9]|2[0-3]):[0-5][0-9]$") {
      control = el("input", { ...attrs, type: "time", value: value ?? "" });
    } else {
      control = el("input", { ...attrs, type, maxlength: schema.maxLength, value: value ?? "" });
      if (schema.pattern) hint = "Use the format shown in the example, if any.";
    }
  }
  return box(pointer, label, control, { signing, hint });
}

function renderArray(schema, pointer, label, value, ctx, signing) {
  const items = schema.items || {};
  const list = Array.isArray(value) ? value : [];
  if (items.enum) {
    const checks = items.enum.map((v) => {
      const id = idFor();
      return el(
        "div",
        { class: "check" },
        el("input", { type: "checkbox", id, value: String(v), "data-member": pointer, checked: list.includes(v), disabled: ctx.readonly }),
        el("label", { for: id, text: humanEnum(v) }),
      );
    });
    return el(
      "fieldset",
      { class: `field${signing ? " signing" : ""}`, "data-field": `content${pointer}`, "data-pointer": pointer, "data-kind": "enum-array", "data-order": JSON.stringify(list) },
      el("legend", { text: signing ? `${label} (required to sign)` : label }),
      el("p", { class: "field-error", id: `${idFor()}-error`, hidden: true }),
      ...checks,
    );
  }
  if (items.type === "object") {
    const group = el(
      "fieldset",
      { class: `group repeat${signing ? " signing" : ""}`, "data-field": `content${pointer}`, "data-pointer": pointer, "data-kind": "object-array" },
      el("legend", { text: signing ? `${label} (required to sign)` : label }),
      el("p", { class: "field-error", id: `${idFor()}-error`, hidden: true }),
    );
    const rows = el("div", { class: "rows" });
    const addRow = (entry) => {
      const index = rows.children.length;
      const row = render({ ...items, title: `${items.title || "Entry"} ${index + 1}` }, `${pointer}/${index}`, index, entry, ctx);
      row.classList.add("repeat-row");
      if (!ctx.readonly) {
        const remove = el("button", { type: "button", class: "quiet small", text: `Remove ${items.title || "entry"} ${index + 1}` });
        remove.addEventListener("click", () => {
          row.remove();
          ctx.changed();
          group.querySelector("button.add").focus();
        });
        row.append(remove);
      }
      rows.append(row);
      return row;
    };
    for (const entry of list) addRow(entry);
    group.append(rows);
    if (!ctx.readonly) {
      const add = el("button", { type: "button", class: "quiet small add", text: `Add ${(items.title || "an entry").toLowerCase()}` });
      add.addEventListener("click", () => {
        const row = addRow(undefined);
        const first = row.querySelector("input, select, textarea");
        if (first) first.focus();
      });
      group.append(add);
    }
    return group;
  }
  // an array of plain strings: one per line
  const id = idFor();
  const area = el("textarea", { id, rows: "3", "data-pointer": pointer, "data-kind": "lines", readonly: ctx.readonly });
  area.value = list.join("\n");
  return box(pointer, label, area, { signing, hint: "One per line." });
}

/** The whole form for a template; returns {node, read()}. */
export function templateForm(template, content, { readonly = false, onChange = () => {} } = {}) {
  const ctx = { signing: new Set(template.required_at_signing || []), readonly, changed: onChange };
  const schema = template.schema;
  for (const k of schema.required || []) ctx.signing.add(`/${k}`);
  const sections = (template.layout && template.layout.length ? template.layout : [{ section: template.title, fields: Object.keys(schema.properties).map((k) => `/${k}`) }]);
  const node = el("div", { class: "note-form" });
  for (const section of sections) {
    const part = el("section", { class: "note-section" }, el("h2", { text: section.section }));
    for (const pointer of section.fields) {
      const key = pointer.slice(1);
      const sub = schema.properties[key];
      if (!sub) continue;
      part.append(render(sub, pointer, key, content ? content[key] : undefined, ctx));
    }
    node.append(part);
  }
  if (!readonly) {
    node.addEventListener("input", () => onChange());
    node.addEventListener("change", () => onChange());
  }
  return { node, read: () => readForm(node, schema) };
}

function setAt(target, pointer, value) {
  const keys = pointer.split("/").slice(1);
  let here = target;
  keys.forEach((key, i) => {
    const last = i === keys.length - 1;
    const index = /^\d+$/.test(key) ? Number(key) : key;
    if (last) here[index] = value;
    else {
      if (here[index] === undefined) here[index] = /^\d+$/.test(keys[i + 1]) ? [] : {};
      here = here[index];
    }
  });
}

/** Reads the controls back into content: empty fields are left out (a draft may be
 * incomplete; the API checks completeness at signing). */
export function readForm(node, schema) {
  const content = {};
  // Renumber repeated rows so their pointers are contiguous after removals.
  for (const group of node.querySelectorAll('[data-kind="object-array"]')) {
    const base = group.dataset.pointer;
    [...group.querySelector(".rows").children].forEach((row, index) => {
      for (const control of row.querySelectorAll("[data-pointer]")) {
        const rest = control.dataset.pointer.slice(base.length).replace(/^\/\d+/, "");
        control.dataset.pointer = `${base}/${index}${rest}`;
        control.closest("[data-field]").dataset.field = `content${base}/${index}${rest}`;
      }
    });
  }
  for (const control of node.querySelectorAll("[data-pointer]")) {
    const kind = control.dataset.kind;
    const pointer = control.dataset.pointer;
    if (kind === "object-array") continue;
    if (kind === "enum-array") {
      const order = JSON.parse(control.dataset.order || "[]").map(String);
      const rank = (v) => (order.includes(v) ? order.indexOf(v) : order.length);
      const chosen = [...control.querySelectorAll("input[data-member]:checked")]
        .map((i) => i.value)
        .sort((a, b) => rank(a) - rank(b));
      if (chosen.length) setAt(content, pointer, chosen);
      continue;
    }
    if (kind === "const") {
      if (control.checked) setAt(content, pointer, true);
      continue;
    }
    if (kind === "boolean") {
      if (control.value) setAt(content, pointer, control.value === "true");
      continue;
    }
    const raw = control.value.trim();
    if (raw === "") continue;
    if (kind === "date-time") {
      if (raw === control.dataset.shown && control.dataset.original) setAt(content, pointer, control.dataset.original);
      else setAt(content, pointer, new Date(raw).toISOString());
      continue;
    }
    if (kind === "integer") setAt(content, pointer, Number.parseInt(raw, 10));
    else if (kind === "number") setAt(content, pointer, Number(raw));
    else if (kind === "lines") {
      const lines = raw.split("\n").map((l) => l.trim()).filter(Boolean);
      if (lines.length) setAt(content, pointer, lines);
    } else setAt(content, pointer, raw);
  }
  // enum arrays of integers come back as strings: coerce by the schema
  void schema;
  return content;
}
