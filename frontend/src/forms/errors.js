// Browser-side validation messages in the page's language (the words come from the server's i18n table, in the
// page's JSON block), naming the field by its title and never repeating what was typed.
import { nodeAt, titleAt } from "./schema.js";

export function say(messages, key, values = {}) {
  const text = messages[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

const TYPE_KEYS = {
  integer: "msg_type_integer",
  number: "msg_type_number",
  string: "msg_type_string",
  boolean: "msg_type_boolean",
  array: "msg_type_array",
  object: "msg_type_object",
};

// One error's message (without the field's name), from ajv's keyword and parameters.
function messageOf(messages, error, node) {
  const p = error.params || {};
  if (node && node["x-tdkt-file"]) return say(messages, "msg_file");
  switch (error.name) {
    case "required":
      return say(messages, "field_required");
    case "maxLength":
      return say(messages, "field_too_long", { limit: p.limit });
    case "minLength":
      return p.limit === 1 ? say(messages, "msg_not_empty") : say(messages, "msg_min_length", { limit: p.limit });
    case "maximum":
      return say(messages, "msg_maximum", { limit: p.limit });
    case "minimum":
      return say(messages, "msg_minimum", { limit: p.limit });
    case "exclusiveMaximum":
      return say(messages, "msg_exclusive_maximum", { limit: p.limit });
    case "exclusiveMinimum":
      return say(messages, "msg_exclusive_minimum", { limit: p.limit });
    case "maxItems":
      return say(messages, "msg_max_items", { limit: p.limit });
    case "minItems":
      return say(messages, "msg_min_items", { limit: p.limit });
    case "format":
      return p.format === "date" ? say(messages, "msg_date") : say(messages, "msg_format");
    case "type":
      return say(messages, TYPE_KEYS[Array.isArray(p.type) ? p.type[0] : p.type] || "msg_invalid");
    case "enum":
    case "const":
    case "oneOf":
    case "anyOf":
      return say(messages, "msg_choice");
    case "pattern":
      return say(messages, "msg_pattern");
    case "additionalProperties":
      return say(messages, "field_not_in_form");
    default:
      return say(messages, "msg_invalid");
  }
}

// RJSF's `transformErrors`: one message per field (the first problem found), its title in the list on top.
export function makeTransformErrors(messages, schema) {
  return (errors) => {
    const seen = new Set();
    const out = [];
    for (const error of errors) {
      if (error.name === "if") continue; // the "then" branch's own error says what is missing
      const property = error.property || "";
      if (seen.has(property)) continue;
      seen.add(property);
      const node = nodeAt(schema, property);
      const message = messageOf(messages, error, node);
      const title = titleAt(schema, property) || error.title || "";
      const stack = title ? say(messages, "msg_named", { field: title, message }) : message;
      out.push({ ...error, message, stack });
    }
    return out;
  };
}
