// Lint problems on the diagram (a marker class and a badge overlay per element: red for errors, orange for
// warnings) and in the list below it; clicking a problem selects its element.
import { el, w } from "./words.js";

const OVERLAY = "tdkt-lint";
const MARKERS = ["tdkt-lint-error", "tdkt-lint-warning"];

export class LintView {
  constructor({ list, count, empty, state, onPick }) {
    this.list = list;
    this.count = count;
    this.empty = empty;
    this.state = state;
    this.onPick = onPick;
    this.marked = [];
    this.problems = [];
  }

  clearMarkers(modeler) {
    if (!modeler) return;
    const canvas = modeler.get("canvas");
    const registry = modeler.get("elementRegistry");
    for (const id of this.marked) {
      if (registry.get(id)) for (const marker of MARKERS) canvas.removeMarker(id, marker);
    }
    modeler.get("overlays").remove({ type: OVERLAY });
    this.marked = [];
  }

  /** A decision table's cells (dmn-js draws them as ``td[data-element-id]``): a class on each, until redrawn. */
  markCells(container, file) {
    for (const node of container.querySelectorAll(".tdkt-lint-error, .tdkt-lint-warning")) {
      node.classList.remove(...MARKERS);
    }
    for (const p of this.problems) {
      if (!p.element_id || (p.file && file && p.file !== file)) continue;
      for (const node of container.querySelectorAll(`td[data-element-id="${CSS.escape(p.element_id)}"]`)) {
        node.classList.add(p.severity === "error" ? "tdkt-lint-error" : "tdkt-lint-warning");
      }
    }
  }

  /** Show ``problems`` (the lint API's list); markers go on ``modeler``'s elements of ``file``. */
  show(problems, modeler, file, cells) {
    this.problems = problems || [];
    this.clearMarkers(modeler);
    if (cells) this.markCells(cells, file);
    const errors = this.problems.filter((p) => p.severity === "error");
    const warnings = this.problems.filter((p) => p.severity !== "error");
    if (modeler) {
      const registry = modeler.get("elementRegistry");
      const canvas = modeler.get("canvas");
      const overlays = modeler.get("overlays");
      const byElement = new Map();
      for (const p of this.problems) {
        if (!p.element_id || (p.file && file && p.file !== file) || !registry.get(p.element_id)) continue;
        if (!byElement.has(p.element_id)) byElement.set(p.element_id, []);
        byElement.get(p.element_id).push(p);
      }
      for (const [id, found] of byElement) {
        const severity = found.some((p) => p.severity === "error") ? "error" : "warning";
        canvas.addMarker(id, `tdkt-lint-${severity}`);
        this.marked.push(id);
        overlays.add(id, OVERLAY, {
          position: { top: -12, right: 12 },
          html: el(
            "div",
            {
              class: `tdkt-lint-badge ${severity}`,
              "data-element-id": id,
              title: found.map((p) => p.message).join("\n"),
            },
            String(found.length),
          ),
        });
      }
    }
    this.list.replaceChildren(
      ...this.problems.map((p) =>
        el(
          "tr",
          {
            class: `problem ${p.severity === "error" ? "error" : "warning"}`,
            "data-element-id": p.element_id || "",
            "data-file": p.file || "",
            tabindex: "0",
            onclick: () => this.onPick(p),
            onkeydown: (event) => event.key === "Enter" && this.onPick(p),
          },
          el("td", null, el("span", { class: `severity ${p.severity}` }, p.severity === "error" ? w("error") : w("warning"))),
          el("td", null, p.element_id ? el("code", null, p.element_id) : w("whole_file")),
          el("td", null, p.file || "", p.line ? ` (${w("line", { line: p.line })})` : ""),
          el("td", { class: "message" }, p.message),
        ),
      ),
    );
    this.count.textContent = this.problems.length ? String(this.problems.length) : "";
    this.count.className = `badge ${errors.length ? "overdue" : ""}`;
    this.empty.hidden = this.problems.length > 0;
    this.state.textContent = this.problems.length
      ? w("lint_counts", { errors: errors.length, warnings: warnings.length })
      : w("lint_ok");
    this.state.dataset.errors = String(errors.length);
    this.state.dataset.warnings = String(warnings.length);
  }
}
