// The task page's form, drawn by React JSON Schema Form over the server-side form (progressive enhancement).
//
// The page carries everything in a JSON data block (<script type="application/json" id="task-form-data">, which is
// never executed): the schema, the model's ui-schema, the current data, the server's errors after a refused
// submission, the words of the page's language and the attachment URLs. On submit the data goes, as JSON in one
// hidden field, through the page's own form (its action and CSRF token), so the server stays the judge and answers
// as it always does. Without this bundle, or if it fails, the server-side form is left as it is.
import { createRoot } from "react-dom/client";
import Form from "@rjsf/core";
import { makeValidator } from "../forms/validator.js";
import { errorSchema, prepareSchema, prepareUiSchema } from "../forms/schema.js";
import { makeTransformErrors, say } from "../forms/errors.js";
import { markInvalidFields } from "../forms/aria.js";
import {
  ButtonTemplates,
  DateWidget,
  DescriptionField,
  ErrorListTemplate,
  FieldErrorTemplate,
  FieldTemplate,
  FileField,
  TitleField,
} from "../forms/widgets.jsx";

const JSON_FIELD = "__rjsf_json";

function translator(messages) {
  return (key, params = []) => {
    const words = messages[`rjsf:${key}`] || key;
    return params.reduce((text, value, i) => text.replace(`%${i + 1}`, value), words);
  };
}

// What a person typed into the plain form before this bundle ran (a slow connection): kept, not lost. Only the
// top-level text, number and yes/no fields; anything else the plain form holds as JSON stays with the server.
function typedValues(serverForm, schema, data) {
  const found = { ...data };
  for (const [name, spec] of Object.entries(schema.properties || {})) {
    const input = serverForm.elements.namedItem(name);
    if (!input || input instanceof RadioNodeList || input.type === "file") continue;
    if (spec.type === "boolean" && input.type === "checkbox") {
      if (input.checked !== Boolean(data[name])) found[name] = input.checked;
    } else if (spec.type === "string" && typeof input.value === "string" && input.value !== "") {
      if (input.value !== String(data[name] ?? "")) found[name] = input.value;
    } else if ((spec.type === "number" || spec.type === "integer") && input.value !== "") {
      const value = Number(input.value);
      if (!Number.isNaN(value) && value !== data[name]) found[name] = value;
    }
  }
  return found;
}

function mount() {
  const block = document.getElementById("task-form-data");
  const serverForm = document.querySelector("form.task-form");
  if (!block || !serverForm) return;
  const payload = JSON.parse(block.textContent);
  if (!payload.schema) return;
  const messages = payload.messages || {};
  const schema = prepareSchema(payload.schema);
  const uiSchema = prepareUiSchema(schema, payload.ui_schema);
  const csrf = serverForm.querySelector('input[name="csrf_token"]');
  const validator = makeValidator();
  const data = typedValues(serverForm, schema, payload.data || {});

  // Take the server-side fields out (kept, to be put back if React fails), leave the form's action and token.
  const kept = document.createDocumentFragment();
  for (const node of [...serverForm.children]) {
    if (node !== csrf) kept.appendChild(node);
  }
  const container = document.createElement("div");
  container.className = "rjsf-form";
  container.id = "rjsf-form";
  serverForm.before(container);
  serverForm.hidden = true;
  const restore = (error) => {
    console.error("the form could not be drawn; the plain form is back", error);
    container.remove();
    serverForm.appendChild(kept);
    serverForm.hidden = false;
  };

  function submit({ formData }) {
    const field = document.createElement("input");
    field.type = "hidden";
    field.name = JSON_FIELD;
    field.value = JSON.stringify(formData ?? {});
    serverForm.appendChild(field);
    serverForm.submit();
  }

  try {
    const root = createRoot(container, { onUncaughtError: restore });
    markInvalidFields(container); // aria-invalid follows the error messages
    root.render(
      <Form
        className="task-form rjsf"
        schema={schema}
        uiSchema={{ "ui:submitButtonOptions": { submitText: say(messages, "complete") }, ...uiSchema }}
        formData={data}
        validator={validator}
        idPrefix="f"
        idSeparator="-"
        experimental_defaultFormStateBehavior={{ constAsDefaults: "skipOneOf" }}
        noHtml5Validate
        showErrorList="top"
        focusOnFirstError
        extraErrors={errorSchema(payload.errors)}
        transformErrors={makeTransformErrors(messages, schema)}
        translateString={translator(messages)}
        formContext={{
          messages,
          uploadUrl: payload.upload_url,
          downloadUrl: payload.download_url,
          csrfToken: csrf ? csrf.value : "",
        }}
        templates={{ FieldTemplate, FieldErrorTemplate, DescriptionFieldTemplate: DescriptionField,
          TitleFieldTemplate: TitleField,
          ErrorListTemplate,
          ButtonTemplates,
        }}
        widgets={{ DateWidget }}
        fields={{ tdktFile: FileField }}
        onSubmit={submit}
      />,
    );
    window.tdktForms = { mounted: true };
  } catch (error) {
    restore(error);
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
else mount();
