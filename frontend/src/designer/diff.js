// /designer/<key>/diff?from=1&to=2: both versions side by side, the elements bpmn-js-differ finds added, removed,
// changed or moved coloured on them, and the list of changes below.
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";
import { diff } from "bpmn-js-differ";
import camundaModdle from "camunda-bpmn-moddle/resources/camunda.json";
import { versionFiles } from "./api.js";
import spiffModdle from "./spiffworkflow.json";
import { el, w } from "./words.js";

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
    row("changed", id, change.model && change.model.$type, describeAttrs(change.attrs));
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
