// /designer/<key>/<version> and /designer/<key>/draft: the version's files in bpmn-js's Modeler (with the
// properties panel, Camunda's and SpiffWorkflow's extensions, and our "TĐKT" group) or dmn-js's, linted as they
// change, saved as the key's draft or deployed as its next version.
import BpmnModeler from "bpmn-js/lib/Modeler";
import DmnModeler from "dmn-js/lib/Modeler";
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule,
} from "bpmn-js-properties-panel";
import { is } from "bpmn-js/lib/util/ModelUtil";
import camundaModdle from "camunda-bpmn-moddle/resources/camunda.json";
import { ApiError, deploy, getDraft, lint, putDraft, versionFiles } from "./api.js";
import { FormPreview } from "./form-preview.js";
import { LintView } from "./lint.js";
import { keepUnresolvedReferences, roundTrip } from "./references.js";
import spiffModdle from "./spiffworkflow.json";
import { TdktPropertiesModule } from "./tdkt-properties.js";
import { el, w } from "./words.js";

const LINT_DELAY = 600;
const isDiagram = (name) => /\.(bpmn|dmn)$/i.test(name);

function mainFile(files, key) {
  const names = Object.keys(files).filter(isDiagram).sort();
  const declares = (name) => new RegExp(`<([\\w-]+:)?(process|decision|definitions)\\b[^>]*\\bid="${key}"`).test(files[name]);
  return names.find((n) => n.endsWith(".bpmn") && declares(n)) || names.find(declares) || names[0];
}

export class Editor {
  constructor(root) {
    this.root = root;
    this.key = root.dataset.key;
    this.version = root.dataset.version ? Number(root.dataset.version) : null;
    this.isDraft = root.dataset.draft === "true";
    this.base = root.dataset.base;
    this.files = {};
    this.current = null;
    this.dirty = false;
    this.lintTimer = null;
    this.lintSeq = 0;
    this.formName = null;
    const $ = (id) => document.getElementById(id);
    this.canvas = $("designer-canvas");
    this.panel = $("designer-properties");
    this.select = $("designer-file");
    this.message = $("designer-message");
    this.lintView = new LintView({
      list: $("designer-problem-list"),
      count: $("designer-problem-count"),
      empty: $("designer-no-problems"),
      state: $("designer-lint-state"),
      onPick: (p) => this.pick(p),
    });
    this.formSection = $("designer-form");
    this.formText = $("designer-form-text");
    this.formError = $("designer-form-error");
    this.preview = null;
  }

  async start() {
    try {
      if (this.isDraft) {
        const draft = await getDraft(this.key);
        this.files = { ...draft.files };
        this.basedOn = draft.based_on_version ?? null;
      } else {
        const { files } = await versionFiles(this.key, this.version);
        this.files = files;
        this.basedOn = this.version;
      }
    } catch (err) {
      const text = err instanceof ApiError && err.status === 404 && this.isDraft ? w("no_draft", { key: this.key }) : w("load_failed", { message: err.message });
      this.say(text, "error");
      return;
    }
    const names = Object.keys(this.files).filter(isDiagram).sort();
    this.select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    this.select.addEventListener("change", () => this.open(this.select.value));
    document.getElementById("designer-save").addEventListener("click", () => this.saveDraft());
    document.getElementById("designer-deploy").addEventListener("click", () => this.deploy());
    this.formText.addEventListener("input", () => this.formEdited());
    window.addEventListener("beforeunload", (event) => {
      if (!this.unsaved) return;
      event.preventDefault();
      event.returnValue = w("leave");
    });
    const first = mainFile(this.files, this.key);
    this.select.value = first;
    await this.open(first);
    window.tdktDesigner = this; // for the browser test: the current XML, the modeler
  }

  say(text, kind, link) {
    this.message.hidden = false;
    this.message.className = `flash ${kind || ""}`;
    this.message.replaceChildren(text, ...(link ? [" ", link] : []));
  }

  // --- the diagram -------------------------------------------------------------------------------------------

  bpmn() {
    if (!this.bpmnModeler) {
      this.bpmnModeler = new BpmnModeler({
        container: this.canvas,
        propertiesPanel: { parent: this.panel },
        additionalModules: [
          BpmnPropertiesPanelModule,
          BpmnPropertiesProviderModule,
          CamundaPlatformPropertiesProviderModule,
          TdktPropertiesModule,
        ],
        moddleExtensions: { camunda: camundaModdle, spiffworkflow: spiffModdle },
      });
      this.bpmnModeler.on("import.parse.complete", (event) => {
        keepUnresolvedReferences(this.bpmnModeler.get("moddle"), event.warnings);
      });
      this.bpmnModeler.on("commandStack.changed", () => this.changed());
      this.bpmnModeler.on("selection.changed", (event) => this.selected(event.newSelection));
    }
    return this.bpmnModeler;
  }

  dmn() {
    if (!this.dmnModeler) {
      this.dmnModeler = new DmnModeler({ container: this.canvas });
      this.dmnModeler.on("views.changed", () => this.watchDmnView());
    }
    return this.dmnModeler;
  }

  watchDmnView() {
    const viewer = this.dmnModeler.getActiveViewer();
    if (!viewer || viewer.__tdktWatched) return;
    viewer.__tdktWatched = true;
    viewer.get("eventBus").on("commandStack.changed", () => this.changed());
  }

  active() {
    return this.current && this.current.endsWith(".dmn") ? this.dmnModeler : this.bpmnModeler;
  }

  async open(name) {
    await this.flush();
    this.current = name;
    this.dirty = false;
    const isDmn = name.endsWith(".dmn");
    this.root.classList.toggle("dmn", isDmn);
    this.bpmnModeler?.detach?.();
    this.dmnModeler?.detach?.();
    try {
      if (isDmn) {
        const modeler = this.dmn();
        modeler.attachTo(this.canvas);
        await modeler.importXML(this.files[name]);
        this.watchDmnView();
      } else {
        const modeler = this.bpmn();
        modeler.attachTo(this.canvas);
        const result = await modeler.importXML(this.files[name]);
        modeler.get("canvas").zoom("fit-viewport");
        if (result.warnings && result.warnings.length) console.warn("import warnings", result.warnings);
      }
    } catch (err) {
      this.say(w("load_failed", { message: `${name}: ${err.message}` }), "error");
    }
    this.hideForm();
    this.lintNow();
  }

  changed() {
    this.dirty = true;
    this.unsaved = true;
    clearTimeout(this.lintTimer);
    this.lintTimer = setTimeout(() => this.lintNow(), LINT_DELAY);
  }

  /** The open diagram written back into ``files`` (only when edited: an untouched file stays byte for byte). */
  async flush() {
    const modeler = this.active();
    if (!this.current || !modeler || !this.dirty) return;
    const { xml } = await modeler.saveXML({ format: true });
    this.files[this.current] = xml;
    this.dirty = false;
  }

  async roundTrip(xml) {
    return roundTrip(this.bpmn().get("moddle"), xml);
  }

  async currentXml() {
    const { xml } = await this.active().saveXML({ format: true });
    return xml;
  }

  // --- lint --------------------------------------------------------------------------------------------------

  async lintNow() {
    clearTimeout(this.lintTimer);
    const seq = ++this.lintSeq;
    const state = document.getElementById("designer-lint-state");
    state.textContent = w("linting");
    state.dataset.busy = "true";
    try {
      await this.flush();
      const result = await lint(this.files);
      if (seq !== this.lintSeq) return;
      this.showProblems(result.problems || []);
    } catch (err) {
      if (seq !== this.lintSeq) return;
      state.textContent = w("lint_failed", { message: err.message });
    } finally {
      if (seq === this.lintSeq) state.dataset.busy = "false";
    }
  }

  showProblems(problems) {
    const diagram = this.current && this.current.endsWith(".bpmn") ? this.bpmnModeler : null;
    const cells = this.current && this.current.endsWith(".dmn") ? this.canvas : null;
    this.lintView.show(problems, diagram, this.current, cells);
  }

  async pick(problem) {
    if (problem.file && problem.file.endsWith(".json") && this.bpmnModeler && this.current.endsWith(".bpmn")) {
      // A form's problem: select the user task whose form it is, which opens the form beside its preview.
      const registry = this.bpmnModeler.get("elementRegistry");
      const task = registry.filter((e) => this.formFileOf(e) === problem.file)[0];
      if (task) {
        this.bpmnModeler.get("selection").select(task);
        this.bpmnModeler.get("canvas").scrollToElement(task);
        this.formSection.scrollIntoView({ block: "start" });
      }
      return;
    }
    if (problem.file && problem.file !== this.current && this.files[problem.file] !== undefined) {
      if (!isDiagram(problem.file)) return;
      this.select.value = problem.file;
      await this.open(problem.file);
    }
    if (problem.element_id && this.current.endsWith(".dmn")) {
      const cell = this.canvas.querySelector(`td[data-element-id="${CSS.escape(problem.element_id)}"]`);
      if (cell) cell.scrollIntoView({ block: "center" });
      if (cell) cell.querySelector("[contenteditable]")?.focus();
      return;
    }
    if (!problem.element_id || !this.current.endsWith(".bpmn")) return;
    const registry = this.bpmnModeler.get("elementRegistry");
    const element = registry.get(problem.element_id);
    if (!element) return;
    this.bpmnModeler.get("selection").select(element);
    this.bpmnModeler.get("canvas").scrollToElement(element);
  }

  // --- save and deploy ---------------------------------------------------------------------------------------

  async saveDraft() {
    try {
      await this.flush();
      await putDraft(this.key, this.files, this.basedOn);
      const link = this.isDraft ? null : el("a", { href: `${this.base}/${encodeURIComponent(this.key)}/draft` }, w("open_draft"));
      this.unsaved = false;
      this.say(w("saved"), "success", link);
    } catch (err) {
      this.say(w("save_failed", { message: err.message }), "error");
    }
  }

  async deploy() {
    const button = document.getElementById("designer-deploy");
    button.disabled = true;
    try {
      await this.flush();
      const result = await deploy(this.files);
      if (result.refused) {
        this.showProblems(result.problems);
        const errors = result.problems.filter((p) => p.severity === "error").length;
        this.say(w("deploy_refused", { count: errors || result.problems.length }), "error");
        return;
      }
      const done = (result.deployed || []).find((d) => d.key === this.key) || (result.deployed || [])[0];
      if (!done) return this.say(w("deploy_failed", { message: "?" }), "error");
      this.showProblems(result.problems || []);
      const href = `${this.base}/${encodeURIComponent(done.key)}/${done.version}`;
      const link = el("a", { href, id: "designer-deployed-link", "data-version": done.version }, `v${done.version}`);
      this.say(w(done.unchanged ? "unchanged" : "deployed", { key: done.key, version: done.version }), "success", link);
      this.message.dataset.version = String(done.version);
      this.unsaved = false;
    } catch (err) {
      if (err instanceof ApiError && err.problems.length) this.showProblems(err.problems);
      this.say(w("deploy_failed", { message: err.message }), "error");
    } finally {
      button.disabled = false;
    }
  }

  // --- the selected user task's form ---------------------------------------------------------------------------

  formFileOf(element) {
    const bo = element.businessObject;
    if (!is(bo, "bpmn:UserTask")) return null;
    const spiff = (bo.get("extensionElements")?.get("values") || []).find((v) => is(v, "spiffworkflow:formJsonSchemaFilename"));
    const key = bo.get("camunda:formKey") || bo.get("camunda:formRef") || (spiff && spiff.get("value")) || "";
    if (!key) return null;
    const candidates = [key, `${key}.json`, `${key.replace(/^.*[:/]/, "")}.json`];
    return candidates.find((n) => this.files[n] !== undefined && n.endsWith(".json")) || null;
  }

  selected(selection) {
    const name = selection && selection.length === 1 ? this.formFileOf(selection[0]) : null;
    if (!name) return this.hideForm();
    this.formName = name;
    this.formSection.hidden = false;
    document.getElementById("designer-form-name").textContent = name;
    this.formText.value = this.files[name];
    this.renderForm();
  }

  hideForm() {
    this.formName = null;
    this.formSection.hidden = true;
  }

  formEdited() {
    if (!this.formName) return;
    this.files[this.formName] = this.formText.value;
    this.unsaved = true;
    clearTimeout(this.formTimer);
    this.formTimer = setTimeout(() => this.renderForm(), 250);
    clearTimeout(this.lintTimer);
    this.lintTimer = setTimeout(() => this.lintNow(), LINT_DELAY);
  }

  renderForm() {
    let schema;
    try {
      schema = JSON.parse(this.formText.value);
    } catch (err) {
      this.formError.hidden = false;
      this.formError.textContent = w("form_invalid", { message: err.message });
      return;
    }
    this.formError.hidden = true;
    if (!this.preview) this.preview = new FormPreview(document.getElementById("designer-form-preview"));
    const { ui, ...rest } = schema && typeof schema === "object" ? schema : {};
    this.preview.show(rest, ui);
  }
}
