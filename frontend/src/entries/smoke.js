// Kept tiny on purpose: proves the bundle pipeline in tests without loading the heavy editors.
window.tdktBundle = { ok: true };
