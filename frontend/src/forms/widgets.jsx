// The task form's own widgets and templates for RJSF: dates typed dd/mm/yyyy (stored YYYY-MM-DD), file fields
// that upload to the attachments endpoint (the data keeps only the attachment's reference), text buttons instead
// of Bootstrap's glyph icons, and fields marked up as the server-side form marks them (.field, .has-error).
import { useState } from "react";
import { errorId, getSubmitButtonOptions, TranslatableString } from "@rjsf/utils";
import { say } from "./errors.js";

const ISO = /^(\d{4})-(\d{2})-(\d{2})$/;
const TYPED = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/;

export function isoToTyped(value) {
  const m = ISO.exec(value || "");
  return m ? `${m[3]}/${m[2]}/${m[1]}` : value || "";
}

export function typedToIso(text) {
  const m = TYPED.exec(text.trim());
  if (!m) return null;
  const [day, month, year] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return null;
  return `${m[3]}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
}

// A text box for dd/mm/yyyy: a valid date is stored as ISO; anything else is kept as typed so that validation
// (here and on the server) names the field instead of silently dropping it.
export function DateWidget(props) {
  const { id, value, required, disabled, readonly, autofocus, onChange, onBlur, onFocus, rawErrors, registry } = props;
  const messages = registry.formContext.messages;
  const [text, setText] = useState(isoToTyped(value));
  const fromText = text.trim() === "" ? undefined : typedToIso(text) || text;
  const shown = fromText === (value ?? undefined) ? text : isoToTyped(value); // the data changed elsewhere
  return (
    <input
      id={id}
      name={id}
      className="date-typed"
      type="text"
      inputMode="numeric"
      autoComplete="off"
      placeholder={say(messages, "date_placeholder")}
      value={shown}
      required={required}
      disabled={disabled || readonly}
      autoFocus={autofocus}
      aria-invalid={rawErrors && rawErrors.length ? "true" : undefined}
      aria-describedby={rawErrors && rawErrors.length ? errorId(id) : undefined}
      onChange={(event) => {
        const typed = event.target.value;
        setText(typed);
        onChange(typed.trim() === "" ? undefined : typedToIso(typed) || typed);
      }}
      onBlur={() => onBlur(id, value)}
      onFocus={() => onFocus(id, value)}
    />
  );
}

function size(bytes) {
  if (bytes >= 1048576) return `${(bytes / 1048576).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} kB`;
  return `${bytes} B`;
}

// A file field: choosing a file uploads it at once; the form's data then holds its reference
// {attachment_id, name, sha256, size, media_type}. A reference typed earlier (a string) is shown as it is.
export function FileField(props) {
  const { fieldPathId, formData, onChange, schema, uiSchema, registry, required, disabled, readonly, rawErrors } = props;
  const { messages, uploadUrl, downloadUrl, csrfToken } = registry.formContext;
  const id = fieldPathId.$id;
  const [state, setState] = useState({ busy: false, error: "" });
  const title = (uiSchema && uiSchema["ui:title"]) || schema.title || fieldPathId.path.at(-1);
  const errors = [state.error, ...(rawErrors || [])].filter(Boolean);

  async function upload(file) {
    setState({ busy: true, error: "" });
    const body = new FormData();
    body.append("file", file, file.name);
    body.append("field", fieldPathId.path.join("/"));
    try {
      const answer = await fetch(uploadUrl, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrfToken, Accept: "application/json" },
      });
      const json = await answer.json().catch(() => ({}));
      if (!answer.ok) {
        setState({ busy: false, error: (json.error && json.error.message) || say(messages, "upload_failed") });
        return;
      }
      setState({ busy: false, error: "" });
      onChange(json.attachment, fieldPathId.path);
    } catch {
      setState({ busy: false, error: say(messages, "upload_failed") });
    }
  }

  const ref = formData && typeof formData === "object" ? formData : null;
  return (
    <div className={`field file-field${errors.length ? " has-error" : ""}`}>
      <label htmlFor={id}>
        {title}
        {required ? <span className="req"> *</span> : null}
      </label>
      {ref ? (
        <p className="attachment" id={`${id}__current`}>
          <a href={downloadUrl.replace(/0$/, String(ref.attachment_id))}>{ref.name}</a>{" "}
          <small className="muted">
            ({size(ref.size || 0)}, SHA-256 {String(ref.sha256 || "").slice(0, 12)}…)
          </small>{" "}
          <button type="button" className="secondary small" onClick={() => onChange(undefined, fieldPathId.path)}>
            {say(messages, "remove_file")}
          </button>
        </p>
      ) : typeof formData === "string" && formData ? (
        <p className="attachment muted">{formData}</p>
      ) : null}
      <input
        id={id}
        type="file"
        accept={schema.contentMediaType || ".pdf,.png,.jpg,.jpeg,.docx,.xlsx,.odt"}
        disabled={disabled || readonly || state.busy}
        aria-invalid={errors.length ? "true" : undefined}
        aria-describedby={errors.length ? errorId(id) : undefined}
        onChange={(event) => {
          const file = event.target.files && event.target.files[0];
          if (file) upload(file);
          event.target.value = "";
        }}
      />
      {state.busy ? <small className="hint">{say(messages, "uploading")}</small> : null}
      {schema.description ? <small className="hint">{schema.description}</small> : null}
      {errors.length ? (
        <p className="field-error" role="alert" id={errorId(id)}>
          {errors.join(" ")}
        </p>
      ) : null}
    </div>
  );
}

export function FieldTemplate(props) {
  const { id, classNames, label, children, errors, help, description, rawErrors, hidden, required } = props;
  const { displayLabel, schema, uiSchema } = props;
  if (hidden) return <div className="hidden">{children}</div>;
  if (uiSchema && uiSchema["ui:field"] === "tdktFile") return children; // the file field draws its own box
  const failing = rawErrors && rawErrors.length > 0;
  const checkbox = schema.type === "boolean";
  const container = schema.type === "object" || schema.type === "array";
  const cls = ["field", classNames, failing ? "has-error" : ""].filter(Boolean).join(" ");
  return (
    <div className={cls}>
      {displayLabel && !checkbox && !container && label ? (
        <label htmlFor={id}>
          {label}
          {required ? <span className="req"> *</span> : null}
        </label>
      ) : null}
      {children}
      {displayLabel && description && !container ? description : null}
      {errors}
      {help}
    </div>
  );
}

export function FieldErrorTemplate({ errors = [], fieldPathId }) {
  const shown = errors.filter(Boolean);
  if (!shown.length) return null;
  return (
    <p className="field-error" role="alert" id={errorId(fieldPathId)}>
      {shown.join(" ")}
    </p>
  );
}

// A row of a list is titled "Danh sách đề nghị #2" (RJSF writes "Danh sách đề nghị-2").
export function TitleField({ id, title, required, optionalDataControl }) {
  const shown = /-\d+__title$/.test(id || "") ? String(title || "").replace(/-(\d+)$/, " #$1") : title;
  return (
    <legend id={id}>
      {shown}
      {required ? <span className="req"> *</span> : null}
      {optionalDataControl ? <span className="optional-control">{optionalDataControl}</span> : null}
    </legend>
  );
}

export function DescriptionField({ id, description }) {
  return description ? (
    <small id={id} className="hint">
      {description}
    </small>
  ) : null;
}

export function ErrorListTemplate({ errors, registry }) {
  return (
    <div className="flash error rjsf-errors" role="alert">
      <strong>{registry.translateString(TranslatableString.ErrorsLabel)}</strong>
      <ul>
        {errors.map((error, i) => (
          <li key={i}>{error.name ? error.stack : error.message /* the server's own messages name the field */}</li>
        ))}
      </ul>
    </div>
  );
}

function textButton(key, className) {
  return function TextButton(props) {
    const { registry, uiSchema, iconType, icon, className: extra, ...rest } = props;
    void uiSchema;
    void iconType;
    void icon;
    const words = registry.translateString(key);
    return (
      <button type="button" className={`${className} ${extra || ""}`.trim()} title={words} {...rest}>
        {words}
      </button>
    );
  };
}

export const ButtonTemplates = {
  AddButton: textButton(TranslatableString.AddItemButton, "secondary add-row"),
  RemoveButton: textButton(TranslatableString.RemoveButton, "danger small"),
  MoveUpButton: textButton(TranslatableString.MoveUpButton, "secondary small"),
  MoveDownButton: textButton(TranslatableString.MoveDownButton, "secondary small"),
  CopyButton: textButton(TranslatableString.CopyButton, "secondary small"),
  ClearButton: textButton(TranslatableString.ClearButton, "secondary small"),
  SubmitButton: function SubmitButton({ registry, uiSchema }) {
    if (getSubmitButtonOptions(uiSchema).norender) return null;
    return (
      <div className="submit">
        <button type="submit">{say(registry.formContext.messages, "complete")}</button>
      </div>
    );
  },
};
