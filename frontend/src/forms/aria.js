// Screen readers learn which fields are in error: every control whose aria-describedby names an error message
// present in the form (RJSF's `<id>__error`, drawn by FieldErrorTemplate) gets aria-invalid="true", and loses it
// once the message is gone. RJSF's own widgets already point aria-describedby at the message but never set
// aria-invalid; our date and file widgets set both, which this leaves as they are.
const CONTROLS = "input, select, textarea";

function sync(root) {
  for (const control of root.querySelectorAll(CONTROLS)) {
    const ids = (control.getAttribute("aria-describedby") || "").split(/\s+/).filter((id) => id.endsWith("__error"));
    const failing = ids.some((id) => {
      const message = document.getElementById(id);
      return message !== null && root.contains(message) && message.textContent.trim() !== "";
    });
    if (failing) control.setAttribute("aria-invalid", "true");
    else if (control.getAttribute("aria-invalid") === "true") control.removeAttribute("aria-invalid");
  }
}

// Keep `root`'s controls marked as its messages come and go (React redraws the form on every change).
export function markInvalidFields(root) {
  sync(root);
  const observer = new MutationObserver(() => sync(root));
  observer.observe(root, { childList: true, subtree: true, characterData: true });
  return observer;
}
