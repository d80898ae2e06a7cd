// Preparing a task form's JSON Schema and ui-schema for React JSON Schema Form, without changing what they mean.
//
// - `$schema` and `$id` are left out (the validator is draft 2020-12 already; an `$id` would be registered twice);
// - a bare `enum` with `x-tdkt-enum-titles` (or `enumNames`) becomes `oneOf` of `const` + `title`, so choices show
//   their Vietnamese titles (the values stay the same);
// - the ui-schema the model ships (SpiffArena's `*-uischema.json`) is used unchanged; only where it says nothing,
//   file fields get the upload field and long texts a textarea.

const LONG_TEXT = 1000;

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function titledEnum(node) {
  const titles = isObject(node["x-tdkt-enum-titles"]) ? node["x-tdkt-enum-titles"] : {};
  const names = Array.isArray(node.enumNames) ? node.enumNames : [];
  const { enum: values, enumNames, ...rest } = node;
  void enumNames;
  return { ...rest, oneOf: values.map((v, i) => ({ const: v, title: String(titles[v] ?? names[i] ?? v) })) };
}

export function prepareSchema(node, root = true) {
  if (Array.isArray(node)) return node.map((n) => prepareSchema(n, false));
  if (!isObject(node)) return node;
  let out = {};
  for (const [key, value] of Object.entries(node)) {
    // The page shows the form's title and description already; `$id` would be registered twice.
    if (root && (key === "$schema" || key === "$id" || key === "title" || key === "description")) continue;
    out[key] = isObject(value) || Array.isArray(value) ? prepareSchema(value, false) : value;
  }
  if (Array.isArray(out.enum) && (isObject(out["x-tdkt-enum-titles"]) || Array.isArray(out.enumNames))) {
    out = titledEnum(out);
  }
  return out;
}

// The ui-schema our own conventions ask for, for every field of the schema (walking objects and arrays).
function defaultUi(node) {
  if (!isObject(node)) return {};
  if (node["x-tdkt-file"]) return { "ui:field": "tdktFile", "ui:fieldReplacesAnyOrOneOf": true };
  const ui = {};
  if (node.type === "string" && (node.maxLength || 0) > LONG_TEXT && !node.format) {
    ui["ui:widget"] = "textarea";
  }
  if (isObject(node.properties)) {
    for (const [key, prop] of Object.entries(node.properties)) {
      const sub = defaultUi(prop);
      if (Object.keys(sub).length) ui[key] = sub;
    }
  }
  if (isObject(node.items)) {
    const sub = defaultUi(node.items);
    if (Object.keys(sub).length) ui.items = sub;
  }
  return ui;
}

// The model's ui-schema wins wherever it says something; ours fills the rest.
function merge(ours, theirs) {
  if (!isObject(theirs)) return ours;
  const out = { ...ours };
  for (const [key, value] of Object.entries(theirs)) {
    out[key] = isObject(value) && isObject(ours[key]) ? merge(ours[key], value) : value;
  }
  return out;
}

export function prepareUiSchema(schema, given) {
  return merge(defaultUi(schema), given || {});
}

// The schema node a data path ("unit_candidates/0/name" or ".unit_candidates.0.name") names, or null.
export function nodeAt(schema, path) {
  const parts = Array.isArray(path) ? path : String(path).replace(/\[['"]?([^\]'"]+)['"]?\]/g, ".$1").split(/[./]/);
  let node = schema;
  for (const part of parts.filter((p) => p !== "")) {
    if (!isObject(node)) return null;
    if (isObject(node.properties) && part in node.properties) node = node.properties[part];
    else if (isObject(node.items) && /^\d+$/.test(part)) node = node.items;
    else return null;
  }
  return node;
}

// The title a person reads for the field at `path`: its own title, after its row number in a list.
export function titleAt(schema, path) {
  const parts = String(path).replace(/\[['"]?([^\]'"]+)['"]?\]/g, ".$1").split(/[./]/).filter((p) => p !== "");
  const names = [];
  let node = schema;
  for (const part of parts) {
    if (!isObject(node)) break;
    if (isObject(node.properties) && part in node.properties) {
      node = node.properties[part];
      names.push(node.title || part);
    } else if (isObject(node.items) && /^\d+$/.test(part)) {
      node = node.items;
      names.push(`#${Number(part) + 1}`);
    } else {
      names.push(part);
      node = null;
    }
  }
  return names.join(" › ");
}

// The server's errors ({"a/0/b": "message"}) as RJSF's error schema ({a: {0: {b: {__errors: [...]}}}}).
export function errorSchema(errors) {
  const out = {};
  for (const [path, message] of Object.entries(errors || {})) {
    const parts = path === "(root)" || path === "(form)" ? [] : path.split("/");
    let node = out;
    for (const part of parts) node = node[part] = node[part] || {};
    node.__errors = [...(node.__errors || []), message];
  }
  return out;
}
