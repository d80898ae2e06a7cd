// The "TĐKT" group of the properties panel: what our engine reads from a model, with Vietnamese labels.
//
// - lane / user task: the role code the engine derives from the lane (engine/core/task_meta.py role_code);
// - user task: camunda:formKey, the due date (camunda:properties "dueDate", an expression such as
//   working_days(rules["deadlines"].get("plan_draft", 10)), edited as its number of working days or as a whole),
//   spiffworkflow:preScript (how our models pick the task's unit: assigned_unit = ...);
// - sequence flow: the condition expression (Python, bpmn:conditionExpression);
// - timer events: timeDate / timeDuration / timeCycle;
// - call activity: calledElement, the "unit" and "businessKey" properties (engine/core/calls.py), camunda:in/out;
// - service task: the connector's name (camunda:topic of an external task; read as engine/core/bpmn_parser.py).
import {
  isNumberFieldEntryEdited,
  isTextAreaEntryEdited,
  isTextFieldEntryEdited,
  NumberFieldEntry,
  TextAreaEntry,
  TextFieldEntry,
} from "@bpmn-io/properties-panel";
import { h } from "@bpmn-io/properties-panel/preact";
import { useService } from "bpmn-js-properties-panel";
import { getBusinessObject, is } from "bpmn-js/lib/util/ModelUtil";
import { w } from "./words.js";

const ROLE_CODE = /^[a-z][a-z0-9_]*$/;

export function roleCode(id, name) {
  if (id && ROLE_CODE.test(id)) return id;
  let text = name || id;
  if (!text) return null;
  text = text.replace(/đ/g, "d").replace(/Đ/g, "D").normalize("NFKD").replace(/[^\x00-\x7f]/g, "");
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "_")
      .replace(/^_+|_+$/g, "") || null
  );
}

function extensions(bo, type) {
  const ext = bo.get("extensionElements");
  return ext ? ext.get("values").filter((v) => is(v, type)) : [];
}

/** The ``dueDate``-style property element among camunda:properties and spiffworkflow:properties, or null. */
function findProperty(bo, name) {
  for (const type of ["camunda:Properties", "spiffworkflow:properties"]) {
    for (const holder of extensions(bo, type)) {
      const list = holder.get(type === "camunda:Properties" ? "values" : "properties");
      const found = list.find((p) => p.get("name") === name);
      if (found) return found;
    }
  }
  return null;
}

function propertyValue(bo, name) {
  const found = findProperty(bo, name);
  return found ? found.get("value") || found.get("body") || "" : "";
}

function update(element, moddleElement, properties) {
  return { cmd: "element.updateModdleProperties", context: { element, moddleElement, properties } };
}

function run(commandStack, commands) {
  if (commands.length) commandStack.execute("properties-panel.multi-command-executor", commands);
}

/** The element's bpmn:extensionElements, created (with the command that adds it) when missing. */
function ensureExtensions(bpmnFactory, element, bo, commands) {
  let ext = bo.get("extensionElements");
  if (!ext) {
    ext = bpmnFactory.create("bpmn:ExtensionElements", { values: [] });
    ext.$parent = bo;
    commands.push(update(element, bo, { extensionElements: ext }));
  }
  return ext;
}

function setProperty(injector, element, name, value) {
  const bpmnFactory = injector.get("bpmnFactory");
  const commandStack = injector.get("commandStack");
  const bo = getBusinessObject(element);
  const existing = findProperty(bo, name);
  const commands = [];
  if (existing) {
    const holder = existing.$parent;
    const list = is(holder, "camunda:Properties") ? "values" : "properties";
    if (!value) commands.push(update(element, holder, { [list]: holder.get(list).filter((p) => p !== existing) }));
    else commands.push(update(element, existing, { value }));
    return run(commandStack, commands);
  }
  if (!value) return;
  const ext = ensureExtensions(bpmnFactory, element, bo, commands);
  let holder = ext.get("values").find((v) => is(v, "camunda:Properties"));
  if (!holder) {
    holder = bpmnFactory.create("camunda:Properties", { values: [] });
    holder.$parent = ext;
    commands.push(update(element, ext, { values: [...ext.get("values"), holder] }));
  }
  const prop = bpmnFactory.create("camunda:Property", { name, value });
  prop.$parent = holder;
  commands.push(update(element, holder, { values: [...holder.get("values"), prop] }));
  run(commandStack, commands);
}

function bodyOf(bo, type) {
  const found = extensions(bo, type)[0];
  return found ? found.get("value") || "" : "";
}

function setBody(injector, element, type, value) {
  const bpmnFactory = injector.get("bpmnFactory");
  const moddle = injector.get("moddle");
  const commandStack = injector.get("commandStack");
  const bo = getBusinessObject(element);
  const existing = extensions(bo, type)[0];
  const commands = [];
  if (existing) {
    if (value) commands.push(update(element, existing, { value }));
    else commands.push(update(element, existing.$parent, { values: existing.$parent.get("values").filter((v) => v !== existing) }));
    return run(commandStack, commands);
  }
  if (!value) return;
  const ext = ensureExtensions(bpmnFactory, element, bo, commands);
  const node = moddle.create(type, { value });
  node.$parent = ext;
  commands.push(update(element, ext, { values: [...ext.get("values"), node] }));
  run(commandStack, commands);
}

// --- due dates: "working_days(N)" or "working_days(rules["deadlines"].get("step", N))" ------------------

const LAST_NUMBER = /(\d+)(\s*\)+\s*)$/;

export function dueDays(expression) {
  if (!expression || !/^\s*working_days\(/.test(expression)) return null;
  const found = LAST_NUMBER.exec(expression);
  return found ? Number(found[1]) : null;
}

export function withDueDays(expression, days) {
  if (dueDays(expression) !== null) return expression.replace(LAST_NUMBER, (_, __, tail) => `${days}${tail}`);
  return `working_days(${days})`;
}

// --- entries ---------------------------------------------------------------------------------------------

function laneOf(elementRegistry, bo) {
  let found = null;
  for (const shape of elementRegistry.filter((e) => is(e, "bpmn:Lane"))) {
    if ((shape.businessObject.get("flowNodeRef") || []).includes(bo)) found = shape.businessObject;
  }
  return found;
}

function RoleEntry(props) {
  const { element, id } = props;
  const elementRegistry = useService("elementRegistry");
  const bo = getBusinessObject(element);
  const lane = is(bo, "bpmn:Lane") ? bo : laneOf(elementRegistry, bo);
  return h(TextFieldEntry, {
    element,
    id,
    label: w("role"),
    description: w("role_hint"),
    disabled: true,
    getValue: () => (lane ? roleCode(lane.get("id"), lane.get("name")) || "" : ""),
    setValue: () => {},
    debounce: (fn) => fn,
  });
}

function attributeEntry(name, label, { area = false } = {}) {
  return function AttributeEntry(props) {
    const { element, id } = props;
    const modeling = useService("modeling");
    const debounce = useService("debounceInput");
    return h(area ? TextAreaEntry : TextFieldEntry, {
      element,
      id,
      label: w(label),
      debounce,
      getValue: () => getBusinessObject(element).get(name) || "",
      setValue: (value) => modeling.updateProperties(element, { [name]: value || undefined }),
    });
  };
}

function propertyEntry(name, label, { area = false } = {}) {
  return function PropertyEntry(props) {
    const { element, id } = props;
    const injector = useService("injector");
    const debounce = useService("debounceInput");
    return h(area ? TextAreaEntry : TextFieldEntry, {
      element,
      id,
      label: w(label),
      debounce,
      getValue: () => propertyValue(getBusinessObject(element), name),
      setValue: (value) => setProperty(injector, element, name, (value || "").trim()),
    });
  };
}

function DueDaysEntry(props) {
  const { element, id } = props;
  const injector = useService("injector");
  const debounce = useService("debounceInput");
  return h(NumberFieldEntry, {
    element,
    id,
    label: w("due"),
    description: w("due_days_hint"),
    min: 0,
    max: 3650,
    debounce,
    getValue: () => dueDays(propertyValue(getBusinessObject(element), "dueDate")) ?? "",
    setValue: (value) => {
      const days = Number(value);
      const current = propertyValue(getBusinessObject(element), "dueDate");
      if (value === "" || value === undefined || value === null || !Number.isInteger(days) || days < 0) {
        if (dueDays(current) !== null) setProperty(injector, element, "dueDate", "");
        return;
      }
      setProperty(injector, element, "dueDate", withDueDays(current, days));
    },
  });
}

function bodyEntry(type, label) {
  return function BodyEntry(props) {
    const { element, id } = props;
    const injector = useService("injector");
    const debounce = useService("debounceInput");
    return h(TextAreaEntry, {
      element,
      id,
      label: w(label),
      debounce,
      monospace: true,
      getValue: () => bodyOf(getBusinessObject(element), type),
      setValue: (value) => setBody(injector, element, type, value || ""),
    });
  };
}

function ConditionEntry(props) {
  const { element, id } = props;
  const modeling = useService("modeling");
  const bpmnFactory = useService("bpmnFactory");
  const debounce = useService("debounceInput");
  return h(TextAreaEntry, {
    element,
    id,
    label: w("condition"),
    debounce,
    monospace: true,
    getValue: () => {
      const expr = getBusinessObject(element).get("conditionExpression");
      return expr ? expr.get("body") || "" : "";
    },
    setValue: (value) => {
      const expr = value ? bpmnFactory.create("bpmn:FormalExpression", { body: value }) : undefined;
      modeling.updateProperties(element, { conditionExpression: expr });
    },
  });
}

function timerEntry(kind, label) {
  return function TimerEntry(props) {
    const { element, id } = props;
    const bpmnFactory = useService("bpmnFactory");
    const commandStack = useService("commandStack");
    const debounce = useService("debounceInput");
    const timer = () => getBusinessObject(element).get("eventDefinitions").find((d) => is(d, "bpmn:TimerEventDefinition"));
    return h(TextFieldEntry, {
      element,
      id,
      label: w(label),
      debounce,
      getValue: () => {
        const expr = timer() && timer().get(kind);
        return expr ? expr.get("body") || "" : "";
      },
      setValue: (value) => {
        const definition = timer();
        const expr = value ? bpmnFactory.create("bpmn:FormalExpression", { body: value }) : undefined;
        if (expr) expr.$parent = definition;
        run(commandStack, [update(element, definition, { [kind]: expr })]);
      },
    });
  };
}

function mappingsEntry(which, label) {
  return function MappingsEntry(props) {
    const { element, id } = props;
    const lines = extensions(getBusinessObject(element), which).map((m) => {
      if (m.get("variables") === "all") return "* (all)";
      if (m.get("businessKey")) return `businessKey = ${m.get("businessKey")}`;
      return `${m.get("source") || m.get("sourceExpression") || ""} → ${m.get("target") || ""}`;
    });
    return h(TextAreaEntry, {
      element,
      id,
      label: w(label),
      disabled: true,
      monospace: true,
      rows: Math.min(8, Math.max(2, lines.length)),
      getValue: () => lines.join("\n"),
      setValue: () => {},
      debounce: (fn) => fn,
    });
  };
}

function ConnectorEntry(props) {
  const { element, id } = props;
  const modeling = useService("modeling");
  const debounce = useService("debounceInput");
  return h(TextFieldEntry, {
    element,
    id,
    label: w("connector"),
    debounce,
    getValue: () => getBusinessObject(element).get("camunda:topic") || "",
    setValue: (value) =>
      modeling.updateProperties(element, {
        "camunda:type": value ? "external" : undefined,
        "camunda:topic": value || undefined,
      }),
  });
}

const FormKeyEntry = attributeEntry("camunda:formKey", "form_key");
const CalledEntry = attributeEntry("calledElement", "called");
const DueExpressionEntry = propertyEntry("dueDate", "due_expr");
const UnitEntry = propertyEntry("unit", "call_unit");
const BusinessKeyEntry = propertyEntry("businessKey", "call_key");
const PreScriptEntry = bodyEntry("spiffworkflow:preScript", "pre_script");

function entriesFor(element) {
  const bo = getBusinessObject(element);
  const entries = [];
  const add = (id, component, isEdited) => entries.push({ id: `tdkt-${id}`, component, isEdited, element });
  if (is(bo, "bpmn:Lane")) add("role", RoleEntry, isTextFieldEntryEdited);
  if (is(bo, "bpmn:UserTask")) {
    add("role", RoleEntry, isTextFieldEntryEdited);
    add("form-key", FormKeyEntry, isTextFieldEntryEdited);
    add("due-days", DueDaysEntry, isNumberFieldEntryEdited);
    add("due-expression", DueExpressionEntry, isTextFieldEntryEdited);
    add("pre-script", PreScriptEntry, isTextAreaEntryEdited);
  }
  if (is(bo, "bpmn:SequenceFlow")) {
    const source = bo.get("sourceRef");
    if (source && (is(source, "bpmn:ExclusiveGateway") || is(source, "bpmn:InclusiveGateway") || bo.get("conditionExpression")))
      add("condition", ConditionEntry, isTextAreaEntryEdited);
  }
  if ((bo.get("eventDefinitions") || []).some((d) => is(d, "bpmn:TimerEventDefinition"))) {
    add("timer-date", timerEntry("timeDate", "timer_date"), isTextFieldEntryEdited);
    add("timer-duration", timerEntry("timeDuration", "timer_duration"), isTextFieldEntryEdited);
    add("timer-cycle", timerEntry("timeCycle", "timer_cycle"), isTextFieldEntryEdited);
  }
  if (is(bo, "bpmn:CallActivity")) {
    add("called", CalledEntry, isTextFieldEntryEdited);
    add("unit", UnitEntry, isTextFieldEntryEdited);
    add("business-key", BusinessKeyEntry, isTextFieldEntryEdited);
    add("in", mappingsEntry("camunda:In", "call_in"), isTextAreaEntryEdited);
    add("out", mappingsEntry("camunda:Out", "call_out"), isTextAreaEntryEdited);
  }
  if (is(bo, "bpmn:ServiceTask") || is(bo, "bpmn:SendTask")) add("connector", ConnectorEntry, isTextFieldEntryEdited);
  if (is(bo, "bpmn:ServiceTask") || is(bo, "bpmn:CallActivity") || is(bo, "bpmn:ScriptTask"))
    add("pre-script", PreScriptEntry, isTextAreaEntryEdited);
  return entries;
}

function TdktPropertiesProvider(propertiesPanel) {
  this.getGroups = (element) => (groups) => {
    const entries = entriesFor(element);
    if (entries.length) groups.splice(Math.min(1, groups.length), 0, { id: "tdkt", label: w("group"), entries });
    return groups;
  };
  propertiesPanel.registerProvider(400, this);
}
TdktPropertiesProvider.$inject = ["propertiesPanel"];

export const TdktPropertiesModule = {
  __init__: ["tdktPropertiesProvider"],
  tdktPropertiesProvider: ["type", TdktPropertiesProvider],
};
