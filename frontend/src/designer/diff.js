// /designer/<key>/diff?from=1&to=2: both versions side by side, the elements bpmn-js-differ finds added, removed,
// changed or moved coloured on them, and the list of changes below.
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";
import DmnViewer from "dmn-js/lib/Viewer";
import { diff } from "bpmn-js-differ";
import camundaModdle from "camunda-bpmn-moddle/resources/camunda.json";
import { versionFiles } from "./api.js";
import spiffModdle from "./spiffworkflow.json";
import { el, w } from "./words.js";

function dmnOf(files, key) {
  const names = Object.keys(files).filter((n) => n.endsWith(".dmn")).sort();
  return names.find((n) => files[n].includes(`id="${key}"`)) || names[0];
}

function bpmnOf(files, key) {
  const names = Object.keys(files).filter((n) => n.endsWith(".bpmn")).sort();
  return names.find((n) => files[n].includes(`id="${key}"`)) || names[0];
}

function viewer(container) {
  return new NavigatedViewer({ container, moddleExtensions: { camunda: camundaModdle, spiffworkflow: spiffModdle } });
}

function mark(v, id, cls) {
  if (v.get("elementRegistry").get(id)) v.get("canvas").addMarker(id, cls);
}

/** What our engine reads inside an element that bpmn-js-differ reports only as "changed": its extension
 * properties and bodies (dueDate, unit, preScript...) and its condition, as {label: text}. */
function inner(bo) {
  const found = {};
  if (!bo) return found;
  const condition = bo.get && bo.get("conditionExpression");
  if (condition) found.condition = condition.get("body") || "";
  const ext = bo.get && bo.get("extensionElements");
  for (const item of ext ? ext.get("values") : []) {
    const type = item.$type;
    const list = item.get("values") || (item.$descriptor.propertiesByName.properties && item.get("properties"));
    if (/[Pp]roperties$/.test(type) && Array.isArray(list)) {
      for (const prop of list) found[`${type.split(":")[0]}:property ${prop.get("name")}`] = prop.get("value") || "";
    } else if (item.$descriptor.propertiesByName.value && typeof item.get("value") === "string") {
      found[type] = item.get("value");
    } else if (item.get("source") !== undefined || item.get("target") !== undefined) {
      const key = `${type} ${item.get("target") || ""}`;
      found[key] = item.get("source") || item.get("sourceExpression") || "";
    }
  }
  return found;
}

function describeInner(before, after) {
  const a = inner(before);
  const b = inner(after);
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((k) => a[k] !== b[k])
    .map((k) => `${k}: ${JSON.stringify(a[k] ?? null)} → ${JSON.stringify(b[k] ?? null)}`)
    .join("; ");
}

function describeAttrs(attrs) {
  return Object.entries(attrs || {})
    .map(([name, change]) => `${name}: ${JSON.stringify(change.oldValue ?? null)} → ${JSON.stringify(change.newValue ?? null)}`)
    .join("; ");
}

export async function showDiff(root) {
  const key = root.dataset.key;
  const list = document.getElementById("designer-diff-list");
  let before;
  let after;
  try {
    [before, after] = await Promise.all([versionFiles(key, Number(root.dataset.from)), versionFiles(key, Number(root.dataset.to))]);
  } catch (err) {
    list.replaceChildren(el("tr", null, el("td", { colspan: 3, class: "flash error" }, w("load_failed", { message: err.message }))));
    return;
  }
  if (!bpmnOf(after.files, key)) return showDecisionDiff(key, before.files, after.files, list);
  const left = viewer(document.getElementById("designer-diff-old"));
  const right = viewer(document.getElementById("designer-diff-new"));
  await left.importXML(before.files[bpmnOf(before.files, key)]);
  await right.importXML(after.files[bpmnOf(after.files, key)]);
  for (const v of [left, right]) v.get("canvas").zoom("fit-viewport");
  const changes = diff(left.getDefinitions(), right.getDefinitions());
  const rows = [];
  const row = (kind, id, type, details) =>
    rows.push(
      el(
        "tr",
        { class: `diff-${kind}`, "data-element-id": id, "data-change": kind },
        el("td", null, el("span", { class: `diff-key ${kind}` }, w(kind === "layout" ? "layout" : kind))),
        el("td", null, el("code", null, id), type ? ` (${type.replace(/^bpmn:/, "")})` : ""),
        el("td", null, details || ""),
      ),
    );
  for (const [id, element] of Object.entries(changes._added)) {
    mark(right, id, "diff-added");
    row("added", id, element.$type);
  }
  for (const [id, element] of Object.entries(changes._removed)) {
    mark(left, id, "diff-removed");
    row("removed", id, element.$type);
  }
  for (const [id, change] of Object.entries(changes._changed)) {
    mark(left, id, "diff-changed");
    mark(right, id, "diff-changed");
    const was = left.get("elementRegistry").get(id);
    const details = [describeAttrs(change.attrs), describeInner(was && was.businessObject, change.model)];
    row("changed", id, change.model && change.model.$type, details.filter(Boolean).join("; ") || w("nested_change"));
  }
  for (const [id, element] of Object.entries(changes._layoutChanged)) {
    if (changes._changed[id] || changes._added[id] || changes._removed[id]) continue;
    mark(left, id, "diff-layout");
    mark(right, id, "diff-layout");
    row("layout", id, element.$type);
  }
  list.replaceChildren(...(rows.length ? rows : [el("tr", null, el("td", { colspan: 3, class: "muted" }, w("no_changes")))]));
  // Moving one diagram moves the other, so the same place shows on both sides.
  let syncing = false;
  const follow = (from, to) =>
    from.on("canvas.viewbox.changed", (event) => {
      if (syncing) return;
      syncing = true;
      to.get("canvas").viewbox(event.viewbox);
      syncing = false;
    });
  follow(left, right);
  follow(right, left);
}

// --- decisions: both tables in dmn-js's viewer, rules and cells compared by id ------------------------------

/** {id: [tag, text]} of the identified elements of a DMN file (rules, their entries, inputs and outputs). */
function dmnElements(xml) {
  const doc = new DOMParser().parseFromString(xml, "application/xml");
  const found = {};
  for (const node of doc.querySelectorAll("[id]")) {
    const text = node.children.length
      ? [...node.children].filter((c) => c.localName === "text").map((c) => c.textContent.trim()).join(" ")
      : node.textContent.trim();
    const attrs = [...node.attributes].filter((a) => a.name !== "id").map((a) => `${a.name}=${a.value}`).join(" ");
    found[node.getAttribute("id")] = [node.localName, `${attrs} ${text}`.trim()];
  }
  return found;
}

async function showDecisionDiff(key, beforeFiles, afterFiles, list) {
  const oldXml = beforeFiles[dmnOf(beforeFiles, key)];
  const newXml = afterFiles[dmnOf(afterFiles, key)];
  const views = [];
  for (const [id, xml] of [["designer-diff-old", oldXml], ["designer-diff-new", newXml]]) {
    const v = new DmnViewer({ container: document.getElementById(id) });
    await v.importXML(xml);
    const table = v.getViews().find((view) => view.type === "decisionTable" && view.element.id === key);
    if (table) await v.open(table);
    views.push(v);
  }
  const before = dmnElements(oldXml);
  const after = dmnElements(newXml);
  const rows = [];
  const mark = (side, id, cls) => {
    const pane = document.getElementById(side ? "designer-diff-new" : "designer-diff-old");
    for (const node of pane.querySelectorAll(`[data-element-id="${CSS.escape(id)}"]`)) node.classList.add(cls);
  };
  const row = (kind, id, tag, details) =>
    rows.push(
      el(
        "tr",
        { class: `diff-${kind}`, "data-element-id": id, "data-change": kind },
        el("td", null, el("span", { class: `diff-key ${kind}` }, w(kind))),
        el("td", null, el("code", null, id), ` (${tag})`),
        el("td", null, details || ""),
      ),
    );
  for (const [id, [tag, text]] of Object.entries(after)) {
    if (!(id in before)) {
      row("added", id, tag, text);
      mark(1, id, "diff-added");
    } else if (before[id][1] !== text) {
      row("changed", id, tag, `${before[id][1]} → ${text}`);
      mark(0, id, "diff-changed");
      mark(1, id, "diff-changed");
    }
  }
  for (const [id, [tag, text]] of Object.entries(before)) {
    if (!(id in after)) {
      row("removed", id, tag, text);
      mark(0, id, "diff-removed");
    }
  }
  list.replaceChildren(...(rows.length ? rows : [el("tr", null, el("td", { colspan: 3, class: "muted" }, w("no_changes")))]));
  return views;
}
