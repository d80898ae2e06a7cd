// The definitions API (/api/v1/definitions), called with the session cookie. Every answer that is not 2xx becomes
// an ApiError carrying the API's message and, when the API lists them, the problems.

const BASE = "/api/v1/definitions";

export class ApiError extends Error {
  constructor(status, message, problems) {
    super(message);
    this.status = status;
    this.problems = problems || [];
  }
}

// Same-origin fetches: the API takes the session cookie (SameSite=Lax) and checks a multipart body's Origin /
// Sec-Fetch-Site itself, so no token is sent with them.

function headers(extra) {
  return { Accept: "application/json", ...(extra || {}) };
}

async function answer(response) {
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const message =
      (body && body.error && body.error.message) ||
      (body && body.problems && body.problems.map((p) => p.message).join("; ")) ||
      `HTTP ${response.status}`;
    throw new ApiError(response.status, message, body && body.problems);
  }
  return body;
}

const enc = encodeURIComponent;

export async function listDefinitions() {
  return answer(await fetch(BASE, { headers: headers(), credentials: "same-origin" }));
}

export async function getVersion(key, version) {
  return answer(await fetch(`${BASE}/${enc(key)}/versions/${version}`, { headers: headers(), credentials: "same-origin" }));
}

export async function getFile(key, version, name) {
  const response = await fetch(`${BASE}/${enc(key)}/versions/${version}/files/${enc(name)}`, {
    headers: headers({ Accept: "*/*" }),
    credentials: "same-origin",
  });
  if (!response.ok) return answer(response);
  return response.text();
}

/** Every file of a deployed version: {name: text}. */
export async function versionFiles(key, version) {
  const meta = await getVersion(key, version);
  const files = {};
  for (const file of meta.files) files[file.name] = await getFile(key, version, file.name);
  return { meta, files };
}

export async function getDraft(key) {
  return answer(await fetch(`${BASE}/${enc(key)}/draft`, { headers: headers(), credentials: "same-origin" }));
}

export async function putDraft(key, files, basedOn) {
  return answer(
    await fetch(`${BASE}/${enc(key)}/draft`, {
      method: "PUT",
      headers: headers({ "Content-Type": "application/json" }),
      credentials: "same-origin",
      body: JSON.stringify({ files, based_on_version: basedOn }),
    }),
  );
}

function mediaType(name) {
  return name.endsWith(".json") ? "application/json" : "application/xml";
}

function formData(files) {
  const data = new FormData();
  for (const [name, text] of Object.entries(files)) {
    data.append("files", new Blob([text], { type: mediaType(name) }), name);
  }
  return data;
}

export async function lint(files, signal) {
  return answer(
    await fetch(`${BASE}/lint`, {
      method: "POST",
      headers: headers(),
      credentials: "same-origin",
      body: formData(files),
      signal,
    }),
  );
}

export async function deploy(files) {
  const response = await fetch(`${BASE}/deploy`, {
    method: "POST",
    headers: headers(),
    credentials: "same-origin",
    body: formData(files),
  });
  if (response.status === 422) {
    const body = await response.json();
    if (body && Array.isArray(body.problems)) return { refused: true, problems: body.problems };
  }
  return answer(response);
}
