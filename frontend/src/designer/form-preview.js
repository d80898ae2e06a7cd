// A user task's form: its JSON Schema as text, with a live preview drawn by react-jsonschema-form.
//
// The preview validates with a small structural checker instead of @rjsf/validator-ajv8: Ajv compiles every
// schema into a function with `new Function`, which the page's Content-Security-Policy (script-src 'self', no
// 'unsafe-eval') forbids. The server validates submissions with the full JSON Schema rules anyway
// (engine/core/forms.py); the preview is for seeing the fields.
import Form from "@rjsf/core";
import { createElement } from "react";
import { createRoot } from "react-dom/client";

function typeOf(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (Number.isInteger(value)) return "integer";
  return typeof value;
}

function matches(schema, value) {
  if (schema === true || schema === undefined) return true;
  if (schema === false) return false;
  if (schema.const !== undefined && JSON.stringify(schema.const) !== JSON.stringify(value)) return false;
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) return false;
  if (schema.type && value !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const actual = typeOf(value);
    if (!types.some((t) => t === actual || (t === "number" && actual === "integer"))) return false;
  }
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const name of schema.required || []) if (value[name] === undefined) return false;
    for (const [name, sub] of Object.entries(schema.properties || {})) {
      if (value[name] !== undefined && !matches(sub, value[name])) return false;
    }
  }
  return true;
}

export const previewValidator = {
  validateFormData() {
    return { errors: [], errorSchema: {} };
  },
  toErrorList() {
    return [];
  },
  isValid(schema, formData) {
    return matches(schema, formData);
  },
  rawValidation() {
    return { errors: [], validationError: undefined };
  },
  reset() {},
};

export class FormPreview {
  constructor(container) {
    this.root = createRoot(container);
  }

  show(schema, uiSchema) {
    const ui = { ...(uiSchema || {}), "ui:submitButtonOptions": { norender: true } };
    this.root.render(createElement(Form, { schema, uiSchema: ui, validator: previewValidator, noHtml5Validate: true }));
  }
}
