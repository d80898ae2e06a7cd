// The instance page's diagram: the deployed XML of the instance's own definition version in bpmn-js's
// NavigatedViewer (pan and zoom, no editing), with the path the instance took marked on the SVG:
//   tdkt-done     elements that completed (at least once)
//   tdkt-taken    sequence flows taken
//   tdkt-waiting  where it waits now
//   tdkt-failed   the element of an incident
// and a "×n" badge on each element done more than once.
// The page hands the data over in <script type="application/json" id="diagram-data"> (not executed, so the
// CSP's script-src 'self' holds) and a <div id="diagram"> to draw in.
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";
import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";

const MARKERS = { completed: "tdkt-done", flows: "tdkt-taken", waiting: "tdkt-waiting", failed: "tdkt-failed" };

function mark(viewer, data) {
  const canvas = viewer.get("canvas");
  const registry = viewer.get("elementRegistry");
  const missing = [];
  for (const [key, marker] of Object.entries(MARKERS)) {
    for (const id of data[key] || []) {
      if (registry.get(id)) {
        canvas.addMarker(id, marker);
      } else {
        missing.push(id);
      }
    }
  }
  // An element done more than once (a step sent back and done again) carries its count, e.g. "×2".
  const overlays = viewer.get("overlays");
  for (const [id, count] of Object.entries(data.repeated || {})) {
    if (registry.get(id)) {
      const badge = document.createElement("span");
      badge.className = "tdkt-count";
      badge.textContent = "×" + count;
      badge.title = (container(viewer).dataset.repeatedText || "") + " " + count;
      overlays.add(id, "tdkt-count", { position: { top: -8, right: 8 }, html: badge });
    }
  }
  return missing;
}

function container(viewer) {
  return viewer.get("canvas").getContainer().closest("#diagram") || document.body;
}

async function show(container, data) {
  const viewer = new NavigatedViewer({ container });
  try {
    const { warnings } = await viewer.importXML(data.xml);
    const missing = mark(viewer, data);
    viewer.get("canvas").zoom("fit-viewport", "auto");
    container.dataset.state = "ready";
    container.dataset.warnings = String(warnings.length);
    if (missing.length) {
      container.dataset.missing = missing.join(" ");
    }
  } catch (err) {
    container.dataset.state = "error";
    const note = document.createElement("p");
    note.className = "diagram-error";
    note.textContent = (container.dataset.errorText || "") + " " + (err && err.message ? err.message : String(err));
    container.replaceChildren(note);
  }
  const fit = document.getElementById("diagram-fit");
  if (fit) {
    fit.addEventListener("click", () => viewer.get("canvas").zoom("fit-viewport", "auto"));
  }
}

function start() {
  const container = document.getElementById("diagram");
  const source = document.getElementById("diagram-data");
  if (!container || !source) {
    return;
  }
  let data;
  try {
    data = JSON.parse(source.textContent || "{}");
  } catch (err) {
    container.dataset.state = "error";
    return;
  }
  if (!data.xml) {
    container.dataset.state = "empty";
    return;
  }
  show(container, data);
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
