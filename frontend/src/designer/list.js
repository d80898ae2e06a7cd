// /designer: every process and decision with its versions, the instances running on each, and the draft if any.
import { listDefinitions, putDraft, versionFiles } from "./api.js";
import { el, w, when } from "./words.js";

async function newDraft(root, item, version) {
  if (item.draft && !window.confirm(w("replace_draft", { key: item.key, version }))) return;
  const status = root.querySelector("#designer-list-status");
  try {
    const { files } = await versionFiles(item.key, version);
    await putDraft(item.key, files, version);
    window.location.assign(`${root.dataset.editUrl}/${encodeURIComponent(item.key)}/draft`);
  } catch (err) {
    status.hidden = false;
    status.textContent = w("save_failed", { message: err.message });
  }
}

function versionRow(root, item, v, previous) {
  const base = `${root.dataset.editUrl}/${encodeURIComponent(item.key)}`;
  return el(
    "tr",
    { "data-key": item.key, "data-version": v.version },
    el("td", null, el("a", { href: `${base}/${v.version}` }, `v${v.version}`)),
    el("td", null, when(v.deployed_at)),
    el("td", null, v.deployed_by || ""),
    el("td", { class: "running" }, String(v.running_instances ?? 0)),
    el("td", { class: "files" }, (v.files || []).join(", ")),
    el(
      "td",
      null,
      el("a", { href: `${base}/${v.version}`, class: "button" }, w("open")),
      " ",
      el("button", { type: "button", class: "new-draft", onclick: () => newDraft(root, item, v.version) }, w("new_draft")),
      previous
        ? [" ", el("a", { href: `${base}/diff?from=${previous.version}&to=${v.version}`, class: "diff" }, w("compare"))]
        : null,
    ),
  );
}

function itemBlock(root, item) {
  const versions = [...(item.versions || [])].sort((a, b) => b.version - a.version);
  const base = `${root.dataset.editUrl}/${encodeURIComponent(item.key)}`;
  return el(
    "section",
    { class: "designer-item", "data-key": item.key },
    el(
      "h2",
      null,
      item.name || item.key,
      " ",
      el("code", null, item.key),
      " ",
      el("span", { class: `status kind-${item.kind}` }, item.kind === "decision" ? w("decision") : w("process")),
    ),
    item.draft
      ? el(
          "p",
          { class: "designer-draft" },
          w("draft_of", { version: item.draft.based_on_version ?? "?", at: when(item.draft.updated_at), by: item.draft.updated_by || "" }),
          " ",
          el("a", { href: `${base}/draft` }, w("open_draft")),
        )
      : null,
    el(
      "table",
      { class: "tasks designer-versions" },
      el(
        "thead",
        null,
        el(
          "tr",
          null,
          el("th", null, w("version")),
          el("th", null, w("deployed_at")),
          el("th", null, w("deployed_by")),
          el("th", null, w("running")),
          el("th", null, w("files")),
          el("th", null, ""),
        ),
      ),
      el(
        "tbody",
        null,
        versions.map((v, i) => versionRow(root, item, v, versions[i + 1])),
      ),
    ),
  );
}

export async function showList(root) {
  root.replaceChildren(el("p", { class: "flash error", id: "designer-list-status", hidden: true }));
  let body;
  try {
    body = await listDefinitions();
  } catch (err) {
    root.append(el("p", { class: "flash error" }, w("load_failed", { message: err.message })));
    return;
  }
  const items = body.items || [];
  if (!items.length) root.append(el("p", { class: "muted" }, w("none")));
  for (const kind of ["process", "decision"]) {
    for (const item of items.filter((i) => (i.kind || "process") === kind)) root.append(itemBlock(root, item));
  }
}
