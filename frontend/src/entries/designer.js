// The process designer's pages (api/web/designer.py): the list, the BPMN/DMN editor with lint, the diff.
import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "bpmn-js/dist/assets/bpmn-font/css/bpmn.css";
import "@bpmn-io/properties-panel/dist/assets/properties-panel.css";
import "dmn-js/dist/assets/dmn-js-shared.css";
import "dmn-js/dist/assets/dmn-js-drd.css";
import "dmn-js/dist/assets/dmn-js-decision-table.css";
import "dmn-js/dist/assets/dmn-js-decision-table-controls.css";
import "dmn-js/dist/assets/dmn-js-literal-expression.css";
import "dmn-js/dist/assets/dmn-js-boxed-expression.css";
import "dmn-js/dist/assets/dmn-js-boxed-expression-controls.css";
import "dmn-js/dist/assets/dmn-font/css/dmn.css";
import "../designer/designer.css";
import { showDiff } from "../designer/diff.js";
import { Editor } from "../designer/editor.js";
import { showList } from "../designer/list.js";
import { loadWords } from "../designer/words.js";

function start() {
  loadWords();
  const list = document.getElementById("designer-list");
  if (list) return showList(list);
  const editor = document.getElementById("designer-editor");
  if (editor) return new Editor(editor).start();
  const diff = document.getElementById("designer-diff");
  if (diff) return showDiff(diff);
  return null;
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
